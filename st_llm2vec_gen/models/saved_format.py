"""The saved format of an LLM2Vec-Gen module, written and read here only.

A module directory holds ``model.safetensors`` (the trainable weights: compression tokens (N, H), R, A) and
``llm2vec_gen_config.json`` (:class:`LLM2VecGenConfig` plus the backbone's :class:`BackboneShape`); a self-contained
one also ``backbone/`` and the module's code. ``config_sentence_transformers.json`` records what loading requires.
Every file is written to a temporary name and renamed into place, so an interrupted save never leaves a half file.

Copied next to self-contained saved models with the module, so it imports only torch, safetensors and its siblings.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import BackboneShape, LLM2VecGenConfig

CONFIG_NAME = "llm2vec_gen_config.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_FOLDER = "backbone"
ST_CONFIG_NAME = "config_sentence_transformers.json"
CODE_NAME = "st_llm2vec_gen.py"  # the saved class reference is "st_llm2vec_gen.LLM2VecGen"
CODE_SIBLINGS = (
    "backbone_forward.py", "backbones.py", "config.py", "decoding.py", "head.py", "inputs.py", "saved_format.py"
)  # fmt: skip
PACKAGE = "st-llm2vec-gen"
WEIGHT_NAMES = (
    "compression_tokens", "reconstruction.weight", "reconstruction.bias", "alignment.weight", "alignment.bias"
)  # fmt: skip


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Calls ``write(tmp)`` for a temporary file beside ``path``, then renames it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes JSON atomically."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True)

    atomic_write(path, dump)


def write_head(
    output_path: str, config: LLM2VecGenConfig, shape: BackboneShape, weights: dict[str, torch.Tensor]
) -> None:
    """Writes the trainable weights and the config of a module into ``output_path``."""
    if set(weights) != set(WEIGHT_NAMES):
        raise ValueError(f"LLM2Vec-Gen weights must be {list(WEIGHT_NAMES)}, got {sorted(weights)}")
    os.makedirs(output_path, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write(
        os.path.join(output_path, WEIGHTS_NAME), lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"})
    )
    write_json(os.path.join(output_path, CONFIG_NAME), {**config.to_saved(), **_present(shape)})


def save_backbone(backbone: Any, tokenizer: Any, target: str) -> None:
    """Writes backbone and tokenizer into a temporary folder beside ``target``, then swaps it in."""
    tmp = tempfile.mkdtemp(dir=os.path.dirname(target) or ".", prefix=f".{os.path.basename(target)}-")
    try:
        backbone.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _present(shape: BackboneShape) -> dict[str, Any]:
    return {k: v for k, v in vars(shape).items() if v is not None}


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """Reads ``model.safetensors``, refusing a corrupt file or non-finite values with a message naming the file.

    Raises:
        ValueError: If the file is unreadable, truncated, or holds NaN or infinite values.
    """
    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        message = f"Cannot read the LLM2Vec-Gen weights file {path}: it is corrupt or truncated ({error})."
        raise ValueError(message) from None
    bad = sorted(name for name, tensor in weights.items() if tensor.is_floating_point() and not tensor.isfinite().all())
    if bad:
        raise ValueError(f"The LLM2Vec-Gen weights file {path} holds NaN or infinite values in {bad}: it is corrupt.")
    return weights


def copy_code(output_path: str, module_file: str | os.PathLike) -> None:
    """Copies the module's code next to a self-contained model: ``module_file`` as ``st_llm2vec_gen.py`` and the
    siblings it imports from the same folder (so a loaded self-contained model can be saved again)."""
    here = Path(module_file)
    for source, name in [(here, CODE_NAME), *[(here.parent / s, s) for s in CODE_SIBLINGS]]:
        if not source.is_file():
            raise FileNotFoundError(f"Cannot store the module code: {source} is missing next to {here}.")
        atomic_write(os.path.join(output_path, name), lambda tmp, src=source: shutil.copyfile(src, tmp))


def declare_requirements(output_path: str, self_contained: bool) -> None:
    """Records what loading needs in config_sentence_transformers.json, for ST's clean install hint."""
    path = os.path.join(output_path, ST_CONFIG_NAME)
    if not os.path.isfile(path):  # saved on its own, outside SentenceTransformer.save
        return
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    requirements = {"sentence-transformers": {"specifier": ">=6.2", "reason": "LLM2Vec-Gen uses the ST 6 module API."}}
    if not self_contained:
        requirements[PACKAGE] = {
            "specifier": ">=0.1",
            "reason": "The LLM2Vec-Gen module code is not stored with this model (save with store_backbone=True).",
        }
    config["requirements"] = requirements
    write_json(path, config)
