"""Fast greedy answers on the CPU: a decoding loop of its own around a Llama/Qwen backbone, no ``generate``.

:class:`FastGreedy` gives the answers of greedy ``generate`` (:class:`~.engines.TransformersEngine`): bit for bit on
``generate``'s own batches, in float32 and bfloat16; with its default (length-sorted, refilled) batches the same in
float32, while in bfloat16 an answer may change with the rows it shares a batch with, as it does under ``generate``
(left padding and batch shape change the rounding). bench/generation_speed.py measures it against ``generate`` and the
compute bound. What it does differently:

- **length-sorted work**: queries are answered longest prompt first, so a prefill pads little; answers come back in
  input order;
- **a batch that stays full**: ``batch_size`` rows decode together; a row whose answer ended takes the next queries
  (prefilled together once ``refill_min`` rows are free), and when no query is left the finished rows are dropped;
- **a preallocated KV cache**: one buffer per layer, each row writes its own column (no ``torch.cat`` per step);
- **a bare decoding step**: the backbone's weights and norms called directly (query/key/value and gate/up products
  fused into one matrix product each, weights prepacked for oneDNN in bfloat16), only the last position's logits,
  greedy choice by ``max`` (the first maximum, as ``argmax``), no logits processors or stopping criteria;
- **the prefill's logits from a contiguous last position**: the model's ``logits_to_keep=1`` slices (B, 1, H) out of
  (B, T, H), and ``lm_head`` on that view runs as a batched product that copies the whole lm_head weight once per row
  (seconds per batch on the CPU).

The prefill of each group of new queries is the backbone's own forward (its masks and attention), so the prompt's
cache is exactly what ``generate`` computes. The step mirrors the transformers decoder layer operation by operation,
including the SDPA call that ``sdpa`` attention makes for one query token (packed grouped-query heads with a padding
mask, ``enable_gqa`` without one). Architectures outside :data:`SUPPORTED_MODEL_TYPES` (or with sliding windows) are
refused by :func:`supports`: keep ``generate`` for them.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from .engines import Generation, chat_prompts

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3")
"""Decoder-only models whose layers :class:`FastGreedy` re-implements (pre-norm, RoPE, SwiGLU, optional QK norm)."""


def supports(model: PreTrainedModel) -> bool:
    """Whether :class:`FastGreedy` can decode ``model``: a supported type with full (not sliding) attention only."""
    config = model.config
    if config.model_type not in SUPPORTED_MODEL_TYPES or getattr(config, "use_sliding_window", False):
        return False
    return all(kind == "full_attention" for kind in getattr(config, "layer_types", None) or ["full_attention"])


class _Linear:
    """``F.linear`` with the weight prepacked for oneDNN (bfloat16 only); falls back to ``F.linear`` unless the packed
    product is bit-identical on a probe, so the answers never depend on which of the two ran."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, prepack: bool, batch_hint: int) -> None:
        self.weight, self.bias, self.packed = weight, bias, None
        if prepack and weight.dtype == torch.bfloat16 and weight.device.type == "cpu":
            try:
                packed = torch.ops.mkldnn._reorder_linear_weight(weight, batch_hint)
                probe = torch.randn(3, weight.shape[1], dtype=weight.dtype)  # (3, in)
                same = torch.equal(self._packed(probe, packed), F.linear(probe, weight, bias))
                self.packed = packed if same else None
            except (AttributeError, RuntimeError):  # an op missing from this torch build, or oneDNN refusing
                self.packed = None

    def _packed(self, x: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, "none", [], "")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (S, in) -> (S, out)
        return F.linear(x, self.weight, self.bias) if self.packed is None else self._packed(x, self.packed)


def _fused(modules: list[torch.nn.Module], prepack: bool, batch_hint: int) -> _Linear:
    """One product for several linear layers that read the same input: weights (and biases) stacked by rows."""
    weight = torch.cat([m.weight for m in modules]) if len(modules) > 1 else modules[0].weight
    bias = None
    if any(m.bias is not None for m in modules):  # e.g. Qwen2's query/key/value biases
        bias = torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.weight.shape[0]) for m in modules])
    return _Linear(weight, bias, prepack, batch_hint)


@dataclass
class _Layer:
    """One decoder layer's pieces for the decoding step."""

    norm1: torch.nn.Module
    qkv: _Linear
    q_norm: torch.nn.Module | None
    k_norm: torch.nn.Module | None
    out: _Linear
    norm2: torch.nn.Module
    gate_up: _Linear
    act: Callable[[torch.Tensor], torch.Tensor]
    down: _Linear


@dataclass
class _Row:
    """The query a batch row is answering (``query < 0``: the row is free) and its answer's tokens so far."""

    query: int = -1
    tokens: list[int] | None = None


class FastGreedy:
    """Greedy answers of a Llama/Qwen backbone with length-sorted, refilled batches and a preallocated KV cache.

    The fused query/key/value and gate/up weights are copies (about two thirds of the layer weights once more), made
    on the first :meth:`answer` and kept for later calls with the same batch size and weights.

    Args:
        backbone: The frozen causal LM (a :func:`supports` architecture). Built and measured for the CPU; other
            devices run the same code (no prepacking there) but were not measured.
        tokenizer: Its tokenizer, with a chat template (a missing pad token becomes the EOS token).
        sort_by_length: Answer the longest prompts first (less padding); ``False`` keeps the input order.
        refill_min: Free rows that trigger a prefill of the next queries; ``None``: an eighth of the batch. The
            batch size makes ``generate``'s static batches (refill only when every row is free).
        compact: Drop finished rows once no query is waiting, so the tail of the work runs on a smaller batch.
        prepack: Prepack bfloat16 weights for oneDNN (used only where it is bit-identical to ``F.linear``).

    Attributes:
        stats: Of the last :meth:`answer`: ``seconds``, ``steps`` (forward passes: decoding steps and prefills),
            ``prefills``, ``row_steps`` (rows that got a token, summed over decoding steps), ``new_tokens``.
        lengths: Of the last :meth:`answer`: each answer's length in tokens (its end token included), input order.

    Raises:
        ValueError: If :func:`supports` refuses the backbone.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        sort_by_length: bool = True,
        refill_min: int | None = None,
        compact: bool = True,
        prepack: bool = True,
    ) -> None:
        if not supports(backbone):
            raise ValueError(
                f"FastGreedy decodes {SUPPORTED_MODEL_TYPES} without sliding windows, not "
                f"{backbone.config.model_type}: use TransformersEngine"
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = backbone, tokenizer
        self.sort_by_length, self.refill_min, self.compact, self.prepack = sort_by_length, refill_min, compact, prepack
        eos = backbone.generation_config.eos_token_id
        eos = tokenizer.eos_token_id if eos is None else eos
        self.eos = set(eos if isinstance(eos, list) else [eos])
        config = backbone.config
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        params = inspect.signature(backbone.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._layers: list[_Layer] = []
        self._weights: tuple | None = None
        self.stats: dict[str, float] = {}
        self.lengths: list[int] = []

    def _build_layers(self, batch_hint: int) -> None:
        pack, hint = self.prepack, batch_hint
        self._layers = []
        for layer in self.model.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self._layers.append(
                _Layer(
                    norm1=layer.input_layernorm,
                    qkv=_fused([attn.q_proj, attn.k_proj, attn.v_proj], pack, hint),
                    q_norm=getattr(attn, "q_norm", None),
                    k_norm=getattr(attn, "k_norm", None),
                    out=_fused([attn.o_proj], pack, hint),
                    norm2=layer.post_attention_layernorm,
                    gate_up=_fused([mlp.gate_proj, mlp.up_proj], pack, hint),
                    act=mlp.act_fn,
                    down=_fused([mlp.down_proj], pack, hint),
                )
            )
        self._lm_head = _fused([self.model.lm_head], pack, hint)

    @torch.inference_mode()
    def answer(
        self, queries: list[str], max_new_tokens: int, batch_size: int = 32, max_query_length: int | None = 512
    ) -> list[Generation]:
        """One greedy answer per query, in input order.

        Args:
            queries: The query texts (each a single user turn in the chat template, see :func:`chat_prompts`).
            max_new_tokens: Tokens per answer at most; an answer that reaches it is marked truncated.
            batch_size: Rows decoded together.
            max_query_length: Queries longer than this many tokens are cut at their end before templating.
        """
        if not queries:
            return []
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size and max_new_tokens must be >= 1, got {batch_size}, {max_new_tokens}")
        weights = (batch_size, self.model.lm_head.weight.data_ptr(), self.model.dtype)
        if self._weights != weights:  # built once per batch size and set of weights (prepacking takes a moment)
            self._build_layers(batch_size)
            self._weights = weights
        start = time.perf_counter()
        prompts = chat_prompts(self.tokenizer, queries, max_query_length)
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]  # the template carries its own
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i])) if self.sort_by_length else list(range(len(ids)))
        answers: list[list[int] | None] = [None] * len(ids)
        refill_min = self.refill_min or max(1, batch_size // 8)
        self._reset()
        steps = tokens = prefills = 0
        while order or any(row.query >= 0 for row in self._rows):
            free = [r for r, row in enumerate(self._rows) if row.query < 0]
            room = free + list(range(len(self._rows), batch_size))
            busy = len(self._rows) - len(free)
            if order and (len(room) >= refill_min or busy == 0):
                taken, order = order[: len(room)], order[len(room) :]
                self._prefill(taken, [ids[i] for i in taken], room[: len(taken)], max_new_tokens)
                prefills += 1
            elif free and not order and self.compact and len(free) >= max(1, len(self._rows) // 4):
                self._keep([r for r, row in enumerate(self._rows) if row.query >= 0])
            self._collect(answers, max_new_tokens)
            if any(row.query >= 0 for row in self._rows):
                self._step()
                steps += 1
                tokens += sum(row.query >= 0 for row in self._rows)
        texts = self.tokenizer.batch_decode(answers, skip_special_tokens=True)
        ended = [bool(answer) and answer[-1] in self.eos for answer in answers]
        self.lengths = [len(answer) for answer in answers]  # tokens per answer, its end token included
        self.stats = {
            "seconds": time.perf_counter() - start,
            "steps": steps + prefills,
            "prefills": prefills,
            "row_steps": tokens,
            "new_tokens": sum(self.lengths),
        }
        logger.info("FastGreedy: %d answers, %d steps, %.1f s", len(queries), steps, self.stats["seconds"])
        return [Generation(text.strip(), not end) for text, end in zip(texts, ended)]

    # ---- the batch: rows, their KV cache (per layer (S, KV, C, D)), valid columns (S, C), lengths, positions ----

    def _reset(self) -> None:
        self._rows: list[_Row] = []
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []
        self._valid = torch.zeros(0, 0, dtype=torch.bool, device=self.model.device)  # (S, C)
        self._lengths = torch.zeros(0, dtype=torch.long, device=self.model.device)  # (S,): next column to write
        self._positions = torch.zeros(0, dtype=torch.long, device=self.model.device)  # (S,): next token's position
        self._last = torch.zeros(0, dtype=torch.long, device=self.model.device)  # (S,): last token of each row

    def _grow(self, rows: int, capacity: int) -> None:
        """Makes room for ``rows`` rows and ``capacity`` columns, keeping what is cached (copies only when growing)."""
        have_rows, have_cap = self._valid.shape
        if rows <= have_rows and capacity <= have_cap:
            return
        rows, capacity = max(rows, have_rows), max(capacity, have_cap)
        device, dtype = self.model.device, self.model.dtype

        def grown(old: torch.Tensor, shape: tuple[int, ...], dim: int) -> torch.Tensor:
            new = torch.zeros(shape, dtype=old.dtype, device=device)
            if dim == 1:  # (S, C)
                new[: old.shape[0], : old.shape[1]] = old
            else:  # (S, KV, C, D)
                new[: old.shape[0], :, : old.shape[2]] = old
            return new

        kv_shape = (rows, self.kv_heads, capacity, self.head_dim)
        empty = torch.zeros(0, self.kv_heads, 0, self.head_dim, dtype=dtype, device=device)
        self._keys = [grown(k, kv_shape, 2) for k in self._keys or [empty] * len(self._layers)]
        self._values = [grown(v, kv_shape, 2) for v in self._values or [empty] * len(self._layers)]
        self._valid = grown(self._valid, (rows, capacity), 1)
        extra = rows - have_rows
        self._lengths = torch.cat([self._lengths, self._lengths.new_zeros(extra)])
        self._positions = torch.cat([self._positions, self._positions.new_zeros(extra)])
        self._last = torch.cat([self._last, self._last.new_zeros(extra)])
        self._rows += [_Row() for _ in range(extra)]

    def _keep(self, rows: list[int]) -> None:
        """Drops every row but ``rows`` (the finished ones once no query waits)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.model.device)
        self._keys = [k.index_select(0, index) for k in self._keys]
        self._values = [v.index_select(0, index) for v in self._values]
        self._valid, self._lengths = self._valid.index_select(0, index), self._lengths.index_select(0, index)
        self._positions, self._last = self._positions.index_select(0, index), self._last.index_select(0, index)
        self._rows = [self._rows[r] for r in rows]

    def _prefill(self, queries: list[int], ids: list[list[int]], rows: list[int], max_new_tokens: int) -> None:
        """Runs the backbone's forward on the new prompts (left-padded together) and moves their cache into ``rows``."""
        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id
        device = self.model.device
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in ids], device=device)  # (n, T)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids], device=device)  # (n, T)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)  # (n, T), as generate computes them
        cache = DynamicCache(config=self.model.config)
        hidden = self.model.model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, **{self._cache_arg: cache}
        ).last_hidden_state  # (n, T, H), final norm applied
        # the last position alone, made contiguous: `lm_head` on a (n, 1, H) slice of (n, T, H) (what the model does
        # with logits_to_keep=1) runs as a batched product that copies the whole lm_head weight once per row
        first = self._lm_head(hidden[:, -1].contiguous()).max(dim=-1).indices  # (n,)
        self._grow(max(rows) + 1, width + max_new_tokens)
        index = torch.tensor(rows, dtype=torch.long, device=device)
        for layer, (keys, values) in enumerate(_cached(cache)):  # (n, KV, T, D) each
            self._keys[layer][index, :, :width] = keys
            self._values[layer][index, :, :width] = values
        self._valid[index] = False
        self._valid[index, :width] = mask.bool()
        self._lengths[index] = width
        self._positions[index] = positions[:, -1] + 1
        self._last[index] = first
        for query, row, token in zip(queries, rows, first.tolist()):
            self._rows[row] = _Row(query, [token])

    def _collect(self, answers: list[list[int] | None], max_new_tokens: int) -> None:
        """Hands finished answers over and frees their rows."""
        for r, row in enumerate(self._rows):
            if row.query >= 0 and (row.tokens[-1] in self.eos or len(row.tokens) >= max_new_tokens):
                answers[row.query] = row.tokens
                row.query, row.tokens = -1, None
                self._valid[r] = True  # a free row sees whatever is cached: it never decides on a mask

    def _step(self) -> None:
        """One token for every row: the decoder layers on the last tokens, attending to each row's valid columns."""
        rows, capacity = self._valid.shape
        heads, kv, dim = self.heads, self.kv_heads, self.head_dim
        device = self.model.device
        busy = torch.tensor([row.query >= 0 for row in self._rows], device=device)  # (S,)
        width = int(self._lengths[busy].max()) + 1  # columns any answering row attends to, its new one included
        self._valid[torch.arange(rows, device=device), self._lengths] = True
        valid = self._valid[:, :width]  # (S, L)
        mask = None if bool(valid.all()) else valid[:, None, None, :]  # (S, 1, 1, L) like the model's sdpa mask
        # where each row's new key/value goes in a layer's cache seen as (S * KV * C, D)
        slots = torch.arange(rows * kv, device=device).view(rows, kv)  # (S, KV)
        write = (slots * capacity + self._lengths[:, None]).view(-1)  # (S * KV,)
        x = self.model.model.embed_tokens(self._last)  # (S, H)
        cos, sin = self.model.model.rotary_emb(x[:, None], self._positions[:, None])  # (S, 1, D) each
        half = dim // 2
        # rotate_half(t) * sin == roll(t, D/2) * sin with the first half of sin negated: the same products, bit for bit
        sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
        for layer, keys, values in zip(self._layers, self._keys, self._values):
            qkv = layer.qkv(layer.norm1(x))  # (S, (heads + 2 KV) D)
            qk = qkv[:, : (heads + kv) * dim].view(rows, heads + kv, dim)
            if layer.q_norm is not None:
                qk = torch.cat((layer.q_norm(qk[:, :heads]), layer.k_norm(qk[:, heads:])), dim=1)
            qk = (qk * cos) + (qk.roll(half, dims=-1) * sin)  # (S, heads + KV, D), rotary positions
            keys.view(-1, dim).index_copy_(0, write, qk[:, heads:].reshape(-1, dim))
            values.view(-1, dim).index_copy_(0, write, qkv[:, (heads + kv) * dim :].reshape(-1, dim))
            q = qk[:, :heads]  # (S, heads, D)
            if mask is None:  # no padding: the model passes no mask and lets SDPA expand the kv heads
                a = F.scaled_dot_product_attention(
                    q[:, :, None], keys[:, :, :width], values[:, :, :width], scale=self.scaling, enable_gqa=kv != heads
                )
            else:  # with a mask: query heads packed per kv head, (S, KV, heads / KV, D)
                a = F.scaled_dot_product_attention(
                    q.reshape(rows, kv, heads // kv, dim),
                    keys[:, :, :width],
                    values[:, :, :width],
                    attn_mask=mask,
                    scale=self.scaling,
                )
            x = x + layer.out(a.reshape(rows, heads * dim))
            h = layer.gate_up(layer.norm2(x))  # (S, 2 I)
            inner = h.shape[-1] // 2
            x = x + layer.down(layer.act(h[:, :inner]) * h[:, inner:])
        logits = self._lm_head(self.model.model.norm(x))  # (S, V)
        self._last = logits.max(dim=-1).indices  # (S,): the first maximum, as argmax
        self._lengths += busy
        self._positions += busy
        for row, token in zip(self._rows, self._last.tolist()):
            if row.query >= 0:
                row.tokens.append(token)


def _cached(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's (keys, values) of a transformers cache, (B, KV, T, D) each."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))
