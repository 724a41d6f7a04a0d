"""Opt-in int8 dynamic quantisation of the backbone's linear layers, for encoding on CPU.

    from st_llm2vec_gen.quantization import quantize_for_cpu

    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
    quantize_for_cpu(model)            # encode() now runs the backbone's linear layers in int8
    model.encode_query(["Where do polar bears live?"])
    model[0].decode(["Where do polar bears live?"])   # generation still runs in full precision

Each ``nn.Linear`` of the backbone (attention and MLP projections; not the LM head, which encoding never uses) gets
an int8 twin (:class:`Int8Linear`): weights quantised per output channel once, activations per token at each call,
an int8 x int8 -> int32 matrix product. The original layers stay in place and untouched, and the twin is used only
while int8 is *active*:

- encoding (the module's ``forward`` without autograd, i.e. ``encode``): int8;
- decoding (generation from the soft prompt), the logit lens, the self teacher and the pooling baselines: full
  precision, unless ``quantize_for_cpu(model, decoding=True)``, which makes every pass without autograd int8;
- anything with autograd (training): full precision, as quantised operations have no gradient.

Why twins rather than quantising in place or quantising a copy: in place, decoding would silently lose precision and
a self-contained ``save`` would write int8 modules transformers cannot load; a quantised copy of the backbone doubles
its memory. Twins add the int8 weights (a quarter of the linear layers' fp32 size) and keep saving, loading and
decoding exactly as they were. It is a speed option, not a memory saving. The setting lives in the loaded model only:
it is not saved, and :func:`dequantize` removes it.

On the embedded default model (docs/performance.md): 1.46x the texts/s of fp32 at one CPU thread, 0.56 points below
fp32 on the offline suite's average.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .models.llm2vec_gen import LLM2VecGen, is_llm2vec_gen

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8",)
"""The quantisation schemes :func:`quantize_for_cpu` offers."""
OUTLIER_THRESHOLD = 3.0
"""Activations above this magnitude are multiplied in full precision (see :class:`Int8Linear`)."""
_STATE = "_st_llm2vec_gen_int8"  # attribute of the module holding its quantisation state


@dataclass
class _Int8State:
    """Whether the int8 twins are in use now, and what to undo.

    ``forward_int8`` is set for the duration of the module's forward: ``True`` when it started without autograd
    (encoding), ``False`` with autograd (training: also its gradient-free parts, such as the cached prefix, stay in
    full precision), ``None`` outside it, where ``decoding`` decides for passes without autograd.
    """

    decoding: bool
    forward_int8: bool | None = None
    linears: list[nn.Linear] = field(default_factory=list)
    hooks: list[RemovableHandle] = field(default_factory=list)

    def use_int8(self) -> bool:
        if self.forward_int8 is not None:
            return self.forward_int8
        return self.decoding and not torch.is_grad_enabled()

    def enter_forward(self, *_: Any) -> None:
        self.forward_int8 = not torch.is_grad_enabled()

    def leave_forward(self, *_: Any) -> None:
        self.forward_int8 = None


class _SwitchedForward:
    """A linear layer's forward: its int8 twin while int8 is in use, else the layer's own weights."""

    def __init__(self, linear: nn.Linear, state: _Int8State) -> None:
        self.full = linear.forward  # the class's forward, bound to the layer
        self.int8 = Int8Linear(linear)
        self.state = state

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.state.use_int8():
            return self.int8(x)
        return self.full(x)


class Int8Linear:
    """A linear layer in int8: symmetric int8 weights per output channel, activations quantised per token on the fly,
    with the few input dimensions that carry outliers computed in full precision.

    ``y = (q(x') @ q(W).T) * s_x * s_W + x_o @ W_o.T + b``, with an int32 product (``torch._int_mm``), where ``x_o``
    are the input columns holding a value above ``outlier_threshold`` in any row of the call and ``x'`` the rest.
    LLM activations concentrate in a few hidden dimensions with values far above the others; one scale per token
    then rounds the others away. Measured on the embedded SmolLM2 (24 queries): embeddings with a mean cosine of
    0.80 to fp32 with one activation scale per batch (torch's eager dynamic quantisation), 0.987 per token, 0.996 per
    token with the dimensions above 3.0 in full precision (about 59 of 576-1536 per call).

    Args:
        linear: The layer to copy; its weight tensor is kept by reference (for the outlier columns), not copied.
        outlier_threshold: Inputs above this magnitude go through the full-precision weights (``None``: none).
    """

    def __init__(self, linear: nn.Linear, outlier_threshold: float | None = OUTLIER_THRESHOLD) -> None:
        weight = linear.weight.detach().float()  # (out, in)
        self.scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127  # (out,)
        self.weight_t = (weight / self.scale[:, None]).round().to(torch.int8).t().contiguous()  # (in, out)
        self.bias = None if linear.bias is None else linear.bias.detach().float()  # (out,)
        self.weight = linear.weight  # (out, in), the layer's own tensor
        self.outlier_threshold = outlier_threshold

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()  # (M, in)
        exact = None
        if self.outlier_threshold is not None:
            columns = (rows.abs() > self.outlier_threshold).any(dim=0).nonzero().squeeze(1)  # (k,)
            if len(columns):
                exact = rows[:, columns] @ self.weight[:, columns].float().t()  # (M, out)
                rows = rows.index_fill(1, columns, 0.0)
        x_scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127  # (M, 1)
        product = torch._int_mm((rows / x_scale).round().to(torch.int8), self.weight_t)  # (M, out) int32
        out = product.float() * x_scale * self.scale
        if exact is not None:
            out = out + exact
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], -1).to(x.dtype)

    @property
    def nbytes(self) -> int:
        """Memory added by the int8 weights, scales and bias (the full-precision weight is the layer's own)."""
        extra = 0 if self.bias is None else self.bias.nbytes
        return self.weight_t.nbytes + self.scale.nbytes + extra


def _check_int8_matmul() -> None:
    """Raises RuntimeError if this torch build cannot multiply int8 matrices on the CPU."""
    ones = torch.ones(2, 8, dtype=torch.int8)
    try:
        product = torch._int_mm(ones, ones.t().contiguous())
    except (AttributeError, RuntimeError) as error:
        raise RuntimeError(f"This torch build has no int8 matrix product on the CPU (torch._int_mm): {error}") from None
    if int(product[0, 0]) != 8:
        raise RuntimeError("torch._int_mm gave a wrong result on this machine: int8 quantisation is unavailable.")


def _module(model: Any) -> LLM2VecGen:
    module = model[0] if isinstance(model, nn.Sequential) else model
    if not is_llm2vec_gen(module):
        raise TypeError(f"Expected an LLM2Vec-Gen model or module, got {type(module).__name__}.")
    return module


def quantization(model: Any) -> str | None:
    """The quantisation applied to a loaded model (``"int8"``) or ``None``."""
    return "int8" if hasattr(_module(model), _STATE) else None


def quantize_for_cpu(model: Any, scheme: str = "int8", decoding: bool = False) -> Any:
    """Runs the backbone's linear layers in int8 for encoding on CPU (see the module docstring).

    Args:
        model: A SentenceTransformer whose first module is :class:`LLM2VecGen`, or the module itself.
        scheme: ``"int8"`` (the only one).
        decoding: Also use int8 for generation, the logit lens and every other pass without autograd.

    Returns:
        ``model``, changed in place. Calling it again only updates ``decoding``.

    Raises:
        ValueError: For another scheme, or a backbone that is not on the CPU.
        RuntimeError: If this torch build has no int8 matrix product on the CPU.
    """
    if scheme not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantisation {scheme!r}: choose from {list(QUANTIZATIONS)}.")
    module = _module(model)
    if (state := getattr(module, _STATE, None)) is not None:
        state.decoding = decoding
        return model
    device = module.compression_tokens.device
    if device.type != "cpu":
        raise ValueError(f"int8 quantisation runs on the CPU; the model is on {device}. Load it with device='cpu'.")
    _check_int8_matmul()
    state = _Int8State(decoding=decoding)
    head = module.backbone.get_output_embeddings()
    for layer in module.backbone.modules():
        if type(layer) is nn.Linear and layer is not head:
            layer.forward = _SwitchedForward(layer, state)
            state.linears.append(layer)
    state.hooks = [
        module.register_forward_pre_hook(state.enter_forward),
        module.register_forward_hook(state.leave_forward, always_call=True),
    ]
    setattr(module, _STATE, state)
    logger.info("int8: %d linear layers of the backbone quantised for encoding", len(state.linears))
    return model


def dequantize(model: Any) -> Any:
    """Undoes :func:`quantize_for_cpu`: the backbone's own full-precision layers run everywhere again."""
    module = _module(model)
    state = getattr(module, _STATE, None)
    if state is None:
        return model
    for layer in state.linears:
        del layer.forward  # the instance attribute: the class's forward shows through again
    for hook in state.hooks:
        hook.remove()
    delattr(module, _STATE)
    return model
