"""Converting published LLM2Vec-Gen checkpoints (PyPI ``llm2vec-gen`` format) into sentence-transformers models.

The published format keeps the compression tokens as added vocabulary rows trained through PEFT, and the two
projections as ``torch.save`` pickles. The converted model keeps the backbone untouched: the trained rows become the
module's compression-token vectors and the projections its R and A. Nothing is written until everything was read and
checked, and the backbone itself is never loaded, so converting an 8B checkpoint takes seconds.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .models.atomic_files import write_json
from .models.config import BackboneShape, LLM2VecGenConfig
from .models.locations import check_local_path
from .models.saved_format import (
    ST_CONFIG_NAME,
    WEIGHT_NAMES,
    declare_requirements,
    previous_model_files,
    remove_paths,
    write_head,
)
from .prompts import DEFAULT_PROMPTS

logger = logging.getLogger(__name__)

DELTA_KEY = "base_model.model.embed_tokens.trainable_tokens_delta"
FULL_MATRIX_KEY = "base_model.model.embed_tokens.base_layer.weight"
REQUIRED_FILES = ("run_config.yml", "encoder/config.json", "encoder/adapter_config.json",
                  "encoder/adapter_model.safetensors", "reconstruction_mlp", "alignment_mlp")  # fmt: skip


class ConversionError(ValueError):
    """A published checkpoint that cannot be converted: the message says which file and what is wrong."""


def parse_run_config(path: str | Path) -> dict[str, Any]:
    """Reads ``run_config.yml``, written one ``key: str(value)`` per line (so ``None`` is the text 'None')."""
    config: dict[str, Any] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or key.startswith((" ", "#")):
            continue
        value = value.strip()
        try:
            config[key.strip()] = ast.literal_eval(value)  # lists, numbers, None, True/False, quoted strings
        except (ValueError, SyntaxError):
            config[key.strip()] = value  # a bare string such as Qwen/Qwen3-8B
    return config


def read_checkpoint(src: str | Path) -> dict[str, Any]:
    """Reads and checks a published checkpoint directory.

    Returns:
        ``base_model``, ``dtype`` (the published ``torch_dtype`` as a torch dtype name such as ``"bfloat16"``, or
        ``None`` when not recorded), ``num_tokens``, ``num_encoded_tokens``, ``max_seq_length``, and the tensors
        ``compression_tokens`` (N, H), ``reconstruction.{weight,bias}``, ``alignment.{weight,bias}``.

    Raises:
        ConversionError: For missing files, an unknown encoding mode or projection type, or inconsistent shapes.
    """
    src = Path(src)
    missing = [name for name in REQUIRED_FILES if not (src / name).is_file()]
    if missing:
        raise ConversionError(f"{src} is not a published LLM2Vec-Gen checkpoint: missing {missing}")
    run = parse_run_config(src / "run_config.yml")
    encoder = json.loads((src / "encoder" / "config.json").read_text(encoding="utf-8"))
    special = run.get("special_tokens") or encoder.get("special_tokens")
    if not isinstance(special, list) or not special:
        raise ConversionError(f"{src}/run_config.yml has no special_tokens list")
    if not isinstance(run.get("model_name_or_path"), str) or run["model_name_or_path"] == "None":
        raise ConversionError(f"{src}/run_config.yml names no base model (model_name_or_path)")
    num_encoded = _encoded_tokens(src, _encoding_mode(src, run), len(special))
    tokens = _token_rows(src, special, encoder)  # (N, H)
    reconstruction = _projection(src / "reconstruction_mlp", tokens.shape[1], tokens.shape[1], allow_mean=False)
    alignment = _projection(src / "alignment_mlp", tokens.shape[1], None, allow_mean=True)
    max_length = run.get("max_input_length")
    return {
        "base_model": run["model_name_or_path"],
        "dtype": _published_dtype(src, run.get("torch_dtype")),
        "num_tokens": len(special),
        "num_encoded_tokens": num_encoded,
        "max_seq_length": int(max_length) if isinstance(max_length, int) and max_length > len(special) else 512,
        "compression_tokens": tokens,
        "reconstruction.weight": reconstruction["projection.weight"],
        "reconstruction.bias": reconstruction["projection.bias"],
        "alignment.weight": alignment["projection.weight"],
        "alignment.bias": alignment["projection.bias"],
    }


def convert_checkpoint(
    src: str,
    dst: str,
    base_model: str | None = None,
    overwrite: bool = False,
    token: str | None = None,
    revision: str | None = None,
    base_revision: str | None = None,
) -> str:
    """Converts a published checkpoint into a sentence-transformers model directory.

    The converted model records the checkpoint's ``torch_dtype`` (``run_config.yml``) as its backbone's dtype, so
    it loads in it (``model_kwargs={"dtype": ...}`` overrides), and ``base_revision`` so it loads that revision.

    Args:
        src: A local published-format directory, or a hub id (from the hub cache, or downloaded when reachable).
        dst: The output directory; it must be empty or absent unless ``overwrite``.
        base_model: A local copy (or another id) of the base model to refer to instead of the checkpoint's.
        overwrite: Replace the files of a non-empty ``dst``.
        token: Hub token for private repositories.
        revision: The checkpoint's hub revision (branch, tag or commit) when ``src`` is a hub id.
        base_revision: The base model's hub revision, recorded in the converted model and used when loading it.

    Returns:
        ``dst``, loadable with ``SentenceTransformer(dst, trust_remote_code=True)``.

    Raises:
        FileExistsError: If ``dst`` is not empty and ``overwrite`` is not set.
        FileNotFoundError: If ``src`` or ``base_model`` is a local path that does not exist.
        ConversionError: If ``src`` is not a readable published checkpoint.
    """
    if os.path.isdir(dst) and os.listdir(dst) and not overwrite:
        raise FileExistsError(f"{dst} is not empty: pass overwrite=True (--overwrite) to replace its files")
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise FileExistsError(f"{dst} is a file, not a directory: choose another output directory")
    src = check_local_path(src, "published checkpoint")
    if base_model:  # a local copy is recorded absolute, so the converted model loads from any directory
        base_model = check_local_path(base_model, "base model")
        base_model = os.path.abspath(base_model) if os.path.exists(base_model) else base_model
    if os.path.isfile(src):
        raise ConversionError(f"{src} is a file: give the published checkpoint's directory (with run_config.yml)")
    origin = {"converted_from": str(src)}  # the hub id, not its cache folder
    if not os.path.isdir(src):
        src = _download(src, token, revision)
        origin["converted_revision"] = Path(src).name  # the snapshot folder is named by its commit
    checkpoint = read_checkpoint(src)
    backbone = base_model or checkpoint["base_model"]
    if base_revision and os.path.exists(backbone):
        raise ValueError(f"base_revision {base_revision!r} applies to a hub id, not to the local base model {backbone}")
    previous = previous_model_files(dst)  # a self-contained model's backbone/ and code would otherwise stay behind
    config = LLM2VecGenConfig(
        backbone=backbone,
        num_tokens=checkpoint["num_tokens"],
        num_encoded_tokens=checkpoint["num_encoded_tokens"],
        embedding_dim=checkpoint["alignment.weight"].shape[0],
        max_seq_length=checkpoint["max_seq_length"],
    )
    shape = BackboneShape(
        hidden_size=checkpoint["compression_tokens"].shape[1],
        vocab_size=_base_vocab_size(backbone, base_revision),
        dtype=checkpoint["dtype"],
        revision=base_revision,
    )
    write_head(dst, config, shape, {name: checkpoint[name].float() for name in WEIGHT_NAMES})
    write_json(
        os.path.join(dst, "modules.json"), [{"idx": 0, "name": "0", "path": "", "type": "st_llm2vec_gen.LLM2VecGen"}]
    )
    write_json(
        os.path.join(dst, ST_CONFIG_NAME),
        {"model_type": "SentenceTransformer", "prompts": DEFAULT_PROMPTS, "default_prompt_name": None,
         "similarity_fn_name": "cosine", **origin},
    )  # fmt: skip
    declare_requirements(dst, self_contained=False)
    _remove_previous(previous, protect=(src, backbone))
    dtype = shape.dtype or "float32"
    logger.info("Converted %s -> %s (backbone %s, %s)", origin["converted_from"], dst, backbone, dtype)
    return dst


# --------------------------------------------------------------------------------------------------------------------
def _remove_previous(paths: list[Path], protect: tuple[str, ...]) -> None:
    """Removes the replaced model's own files once the new one is written, keeping the source and backbone."""
    kept = remove_paths(paths, protect=tuple(p for p in protect if os.path.exists(p)))
    if paths:
        logger.info("Removed the previous model's %s", sorted(p.name for p in paths if p not in kept))
    if kept:
        logger.warning("Kept %s of the previous model: the conversion reads from it", sorted(map(str, kept)))


def _encoding_mode(src: Path, run: dict[str, Any]) -> str:
    path = src / "encoder_decoder_config.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if saved.get("save_decoder"):
        raise ConversionError(f"{src} has a trained decoder (save_decoder=true): only a frozen decoder is supported")
    return saved.get("encoding_mode") or run.get("encoding_mode") or "last_10_tokens"


def _encoded_tokens(src: Path, mode: str, num_tokens: int) -> int:
    match = re.fullmatch(r"last_(\d+)_tokens", str(mode))
    if not match:
        raise ConversionError(f"{src}: unknown encoding mode {mode!r} (only last_<K>_tokens is supported)")
    k = int(match.group(1))
    if not 1 <= k <= num_tokens:
        raise ConversionError(f"{src}: encoding mode {mode!r} asks for more tokens than the {num_tokens} it has")
    return k


def _token_rows(src: Path, special: list[str], encoder: dict[str, Any]) -> torch.Tensor:
    """The trained rows of the special tokens, in the order of ``special`` (N, H)."""
    adapter = json.loads((src / "encoder" / "adapter_config.json").read_text(encoding="utf-8"))
    if adapter.get("peft_type") != "TRAINABLE_TOKENS":
        raise ConversionError(f"{src}/encoder/adapter_config.json: peft_type {adapter.get('peft_type')!r} unsupported")
    weights = _load_safetensors(src / "encoder" / "adapter_model.safetensors")
    ids = encoder.get("special_tokens_ids") or _ids_from_tokenizer(src, special)
    if len(ids) != len(special):
        raise ConversionError(f"{src}: {len(special)} special tokens but {len(ids)} special token ids")
    if DELTA_KEY in weights:
        indices = list(adapter.get("token_indices") or ids)
        delta = weights[DELTA_KEY]  # (N, H): the trained rows, despite the name
        if delta.shape[0] != len(indices) or set(ids) - set(indices):
            raise ConversionError(f"{src}: trainable_tokens_delta {tuple(delta.shape)} does not match token_indices")
        return torch.stack([delta[indices.index(i)] for i in ids]).float()
    if FULL_MATRIX_KEY in weights:
        return weights[FULL_MATRIX_KEY][ids].float()
    raise ConversionError(f"{src}/encoder/adapter_model.safetensors holds neither {DELTA_KEY} nor {FULL_MATRIX_KEY}")


def _ids_from_tokenizer(src: Path, special: list[str]) -> list[int]:
    path = src / "tokenizer.json"
    if not path.is_file():
        raise ConversionError(f"{src}: special token ids are neither in encoder/config.json nor in tokenizer.json")
    added = {t["content"]: t["id"] for t in json.loads(path.read_text(encoding="utf-8")).get("added_tokens", [])}
    if missing := [t for t in special if t not in added]:
        raise ConversionError(f"{src}/tokenizer.json lacks the special tokens {missing}")
    return [added[t] for t in special]


def _projection(path: Path, input_dim: int, output_dim: int | None, allow_mean: bool) -> dict[str, torch.Tensor]:
    """Loads a projection pickle safely (tensors and plain types only) and checks it is one Linear of the right size.

    ``mean_linear`` (mean over positions, then the Linear) equals the Linear then the mean, as the map is affine, so
    it is accepted for the alignment projection, whose output is mean-pooled anyway.
    """
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors have many types: report them all as this file's problem
        raise ConversionError(f"Cannot read {path} safely as a projection checkpoint: {error}") from None
    state, config = saved.get("state_dict", {}), saved.get("config", {})
    modes = ("linear", "mean_linear") if allow_mean else ("linear",)
    if config.get("pooling_mode", "linear") not in modes or config.get("size", 1) != 1:
        raise ConversionError(f"{path}: projection {config} unsupported (need one Linear, pooling {modes})")
    weight, bias = state.get("projection.weight"), state.get("projection.bias")
    if weight is None or bias is None:
        raise ConversionError(f"{path}: missing projection.weight / projection.bias")
    expected = (output_dim or weight.shape[0], input_dim)
    if tuple(weight.shape) != expected or tuple(bias.shape) != (expected[0],):
        raise ConversionError(f"{path}: weight {tuple(weight.shape)} / bias {tuple(bias.shape)}, expected {expected}")
    return {"projection.weight": weight.float(), "projection.bias": bias.float()}


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as error:
        raise ConversionError(f"Cannot read {path}: corrupt or not safetensors ({error})") from None


def _published_dtype(src: Path, value: Any) -> str | None:
    """``torch_dtype`` of ``run_config.yml`` ("torch.bfloat16", "bfloat16", "auto") as a dtype name; None if unset.

    Raises:
        ConversionError: If it names no floating-point torch dtype.
    """
    if value is None or value == "None":
        return None
    name = str(value).strip().removeprefix("torch.")
    if name == "auto":  # the base model's own dtype
        return name
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConversionError(f"{src}/run_config.yml: torch_dtype {value!r} is not a floating-point torch dtype")
    return str(dtype).removeprefix("torch.")  # canonical: "half" -> "float16"


def _base_vocab_size(backbone: str, revision: str | None = None) -> int | None:
    """The base model's vocabulary size when its config is at hand (a local copy or the hub cache); None leaves the
    check to load time."""
    config = Path(backbone) / "config.json"
    if not config.is_file() and not os.path.exists(backbone):
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(backbone, "config.json", revision=revision)
        except ValueError:  # not a valid hub id either (e.g. the embedded backbone's reference)
            cached = None
        config = Path(cached) if isinstance(cached, str) else config
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("vocab_size")
    return None


def _download(repo_id: str, token: str | None, revision: str | None = None) -> str:
    """The checkpoint's snapshot folder: from the hub cache, or downloaded when the hub is reachable.

    Raises:
        FileNotFoundError: If there is neither such a repository (or revision) nor, offline, a cached snapshot.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    name = f"{repo_id}@{revision}" if revision else repo_id
    logger.info("Fetching %s from the hub (or its cache)", name)
    try:
        return snapshot_download(
            repo_id, revision=revision, token=token, allow_patterns=["*.yml", "*.json", "encoder/*", "*_mlp"]
        )
    except GatedRepoError:
        raise
    except (RepositoryNotFoundError, RevisionNotFoundError, LocalEntryNotFoundError, HFValidationError) as error:
        raise FileNotFoundError(
            f"Published checkpoint {name} not found: no local directory of that name, and no hub repository or "
            f"revision of that id (offline: no cached snapshot) [{type(error).__name__}]"
        ) from None
