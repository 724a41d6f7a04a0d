"""What the HTTP side knows of the served model without loading it: its id and its saved prompts.

The HTTP process checks every request before it reaches the model's worker, so that one bad request in a dynamic
batch never fails the others; it reads the prompts from ``config_sentence_transformers.json``, and the worker checks
once it has loaded the model that they are the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..io.prompts import saved_prompts

DOCUMENT_KEYS = ("document", "passage", "corpus")
"""The prompt names ``encode_document`` looks for, in its order; the server's default is the first one saved."""


@dataclass(frozen=True)
class ModelInfo:
    """The served model as requests see it.

    Attributes:
        path: Directory or hub id, as sentence-transformers loads it.
        model_id: The id in requests and in ``/v1/models``.
        prompts: The saved prompts, by name.
        default_prompt: The prompt name of requests that give none (the document prompt); None: no prompt.
    """

    path: str
    model_id: str
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt: str | None = None


def read_model_info(path: str, served_name: str | None = None) -> ModelInfo:
    """The id and prompts of the model at ``path`` (a directory, or a hub id through the hub cache).

    Raises:
        OSError: The model's directory or configuration cannot be read.
        ValueError: Its ``config_sentence_transformers.json`` is not a JSON object with a ``prompts`` object.
    """
    prompts = saved_prompts(path)
    default = next((name for name in DOCUMENT_KEYS if name in prompts), None)
    model_id = served_name or _default_id(path)
    if ":" in model_id:
        raise ValueError(f"the served model name cannot contain ':' (it separates the prompt name), got {model_id!r}")
    return ModelInfo(path=path, model_id=model_id, prompts=prompts, default_prompt=default)


def _default_id(path: str) -> str:
    """A directory's name, or a hub id as it is."""
    if os.path.isdir(path):
        return os.path.basename(os.path.normpath(os.path.abspath(path)))
    return path
