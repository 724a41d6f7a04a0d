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
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic_files import atomic_write, usual_permissions, write_json
from .config import BackboneShape, LLM2VecGenConfig
from .locations import check_local_path
from .trainable_head import TrainableHead

CONFIG_NAME = "llm2vec_gen_config.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_FOLDER = "backbone"
ST_CONFIG_NAME = "config_sentence_transformers.json"
CODE_NAME = "st_llm2vec_gen.py"  # the saved class reference is "st_llm2vec_gen.LLM2VecGen"
CODE_SIBLINGS = (
    "atomic_files.py", "backbone_forward.py", "backbones.py", "config.py", "decoding.py", "head.py", "inputs.py",
    "locations.py", "saved_format.py", "saving.py", "trainable_head.py",
)  # fmt: skip
PACKAGE = "st-llm2vec-gen"
WEIGHT_NAMES = TrainableHead.weight_names()
"""The names of the weights in ``model.safetensors``: those of :class:`TrainableHead`'s state dict."""


def read_saved_json(path: str | os.PathLike, kind: type = dict) -> Any:
    """Reads a saved JSON file that must hold an object (a config), or a list with ``kind=list`` (modules.json).

    Raises:
        ValueError: If the file is not valid JSON or holds another kind of value, naming the file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}): the model directory is damaged.") from None
    if not isinstance(value, kind):
        expected = "object" if kind is dict else kind.__name__
        raise ValueError(f"{path} must hold a JSON {expected}, found a {type(value).__name__}: it is damaged.")
    return value


SAVED_JSON = {"modules.json": list, ST_CONFIG_NAME: dict, CONFIG_NAME: dict}
"""The JSON files of a saved model and the kind of value each holds."""


def check_saved_json(model_dir: str | os.PathLike) -> None:
    """Checks that the JSON files of a local model directory parse, before sentence-transformers reads them (its
    own error, a bare ``JSONDecodeError``, does not name the file). Hub ids and absent files are left alone.

    Raises:
        ValueError: Naming the first damaged file.
    """
    for name, kind in SAVED_JSON.items():
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            read_saved_json(path, kind)


def check_model_reference(name_or_path: str, what: str) -> str:
    """A model's hub id, or its local path with ``~`` expanded, once a missing path or a damaged JSON file has been
    named (before sentence-transformers reads them with less helpful errors)."""
    path = check_local_path(name_or_path, what)
    if os.path.isdir(path):
        check_saved_json(path)
    return path


def write_head(
    output_path: str, config: LLM2VecGenConfig, shape: BackboneShape, weights: dict[str, torch.Tensor]
) -> None:
    """Writes the trainable weights and the config of a module into ``output_path`` without the module (the
    converter); the module itself saves with ``save_config`` and :func:`write_weights`."""
    write_weights(output_path, weights)
    write_json(os.path.join(output_path, CONFIG_NAME), config.saved_with(shape))


def write_weights(output_path: str, weights: dict[str, torch.Tensor]) -> None:
    """Writes a head's state dict as ``model.safetensors`` into ``output_path`` (created if needed).

    Raises:
        ValueError: If the names are not :data:`WEIGHT_NAMES`.
    """
    if set(weights) != set(WEIGHT_NAMES):
        raise ValueError(f"LLM2Vec-Gen weights must be {list(WEIGHT_NAMES)}, got {sorted(weights)}")
    os.makedirs(output_path, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write(os.path.join(output_path, WEIGHTS_NAME), lambda tmp: _save_tensors(tensors, tmp))


def _save_tensors(tensors: dict[str, torch.Tensor], path: str) -> None:
    """``safetensors.save_file``, its I/O failures (a full disk) raised as the OSError they are."""
    try:
        save_file(tensors, path, metadata={"format": "pt"})
    except SafetensorError as error:
        found = re.search(r"os error (\d+)", str(error))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), path) from error


def save_backbone(backbone: Any, tokenizer: Any, target: str) -> None:
    """Writes backbone and tokenizer into a temporary folder beside ``target``, then swaps it in."""
    tmp = tempfile.mkdtemp(dir=os.path.dirname(target) or ".", prefix=f".{os.path.basename(target)}-")
    try:
        backbone.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        usual_permissions(tmp)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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


MODEL_CARD_NAME = "README.md"
OWN_FILES = (BACKBONE_FOLDER, CODE_NAME, *CODE_SIBLINGS, MODEL_CARD_NAME)
"""What saving an LLM2Vec-Gen model may leave in its directory besides the four files every save rewrites
(``model.safetensors``, ``llm2vec_gen_config.json``, ``modules.json``, ``config_sentence_transformers.json``)."""


def previous_model_files(output_path: str, keep: tuple[str, ...] = ()) -> list[Path]:
    """The files an earlier LLM2Vec-Gen model saved in ``output_path`` that a new one will not write.

    Only names this package writes (:data:`OWN_FILES`) count, and only when the directory holds an LLM2Vec-Gen
    model (its ``llm2vec_gen_config.json``): a user's own files are never listed. Call it before writing the new
    model; remove the listed paths with :func:`remove_paths` once the new model is complete.
    """
    folder = Path(output_path)
    if not (folder / CONFIG_NAME).is_file():
        return []
    return [folder / name for name in OWN_FILES if name not in keep and (folder / name).exists()]


def remove_paths(paths: list[Path], protect: tuple[str | os.PathLike, ...] = ()) -> list[Path]:
    """Removes files and folders, except any that is or contains one of ``protect`` (e.g. the backbone in use).

    Returns:
        The paths left in place because they were protected.
    """
    guarded = [Path(p).resolve() for p in protect if p]
    kept = []
    for path in paths:
        resolved = path.resolve()
        if any(g == resolved or resolved in g.parents for g in guarded):
            kept.append(path)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return kept


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


def module_folder(path: str) -> str:
    """The first module's folder inside a local saved model or checkpoint (``""`` when it saves at the root, as
    LLM2Vec-Gen models do, or when there is no ``modules.json``)."""
    modules = os.path.join(path, "modules.json")
    if not os.path.isfile(modules):
        return ""
    return read_saved_json(modules, list)[0].get("path", "")
