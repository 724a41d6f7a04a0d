"""A model's saved prompts, read without loading the model, and the one check of a prompt name against them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SETTINGS_FILE = "config_sentence_transformers.json"
"""The file of a saved SentenceTransformer that holds its prompts."""
HUB_KWARGS = ("token", "revision", "local_files_only")
"""The hub options :func:`saved_prompts` passes on for a hub id."""


def saved_prompts(model_name_or_path: str, cache_folder: str | None = None, **hub_kwargs: Any) -> dict[str, str]:
    """The ST prompts saved with a model (``config_sentence_transformers.json``), without loading the model.

    Args:
        model_name_or_path: A local model directory or a hub id (the file alone is downloaded).
        cache_folder: Where hub files are cached (as in ``SentenceTransformer``).
        **hub_kwargs: ``token``, ``revision``, ``local_files_only`` for a hub id; other keys are ignored.

    Returns:
        The prompts by name (a prompt saved as ``null`` reads as ``""``); empty when the model saved none.

    Raises:
        ValueError: If the file is not valid JSON, or its ``prompts`` is not an object of strings, naming the file.
    """
    from sentence_transformers.util import load_file_path

    hub = {key: hub_kwargs[key] for key in HUB_KWARGS if hub_kwargs.get(key) is not None}
    path = load_file_path(model_name_or_path, SETTINGS_FILE, cache_folder=cache_folder, **hub)
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            settings = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    prompts = (settings.get("prompts") if isinstance(settings, dict) else None) or {}
    if not isinstance(prompts, dict) or not all(text is None or isinstance(text, str) for text in prompts.values()):
        raise ValueError(f"{path}: 'prompts' must be an object of strings; save the model again")
    return {name: text or "" for name, text in prompts.items()}


def check_prompt_name(prompts: Mapping[str, Any] | None, prompt_name: str | None) -> None:
    """Refuses a prompt name the model does not have, before any text is encoded.

    Args:
        prompts: The model's prompts by name (``model.prompts``, :func:`saved_prompts`); None when they are not
            known yet (nothing is checked).
        prompt_name: The name asked for; None: no prompt (nothing to check).

    Raises:
        ValueError: Naming the unknown prompt and the model's prompts.
    """
    if prompt_name is not None and prompts is not None and prompt_name not in prompts:
        raise ValueError(f"Unknown prompt name {prompt_name!r}; the model has {sorted(prompts)}")
