"""The arithmetic of running the frozen backbone: position ids under left padding, passes and masked pooling.

Every place that runs the backbone (the module's forward, the reconstruction loss, the self teacher, the pooling
baselines) goes through these functions, so "the teacher" or "mean pooling" means the same computation everywhere.

Copied next to self-contained saved models with the module, so it imports only torch and transformers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count real tokens only, so left padding never shifts them (batch-invariant outputs).

    Args:
        attention_mask: (B, L) 1 for real tokens, 0 for padding.

    Returns:
        (B, L) long: 0 for the first real token; padding positions get 0 too (they are masked anyway).
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, H) over the positions where ``attention_mask`` (B, T) is 1: (B, H) float32.

    A mask with a single 1 per row picks that position (last-token pooling)."""
    weights = attention_mask.unsqueeze(-1).float()  # (B, T, 1)
    return (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def hidden_states(
    backbone: PreTrainedModel,
    attention_mask: torch.Tensor,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    layer: int | None = None,
) -> torch.Tensor:
    """Hidden states of the backbone (no LM head) over ids or embeddings, positions from the mask.

    Args:
        backbone: The frozen causal LM.
        attention_mask: (B, T).
        input_ids: (B, T), or ``None`` with ``inputs_embeds``.
        inputs_embeds: (B, T, H), or ``None`` with ``input_ids``.
        layer: ``None`` for the final (normalised) states; ``i`` for the output of decoder layer ``i`` (1-based;
            0 is the input embeddings).

    Returns:
        (B, T, H) in the backbone's dtype.
    """
    out = backbone.base_model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        use_cache=False,
        output_hidden_states=layer is not None,
    )
    return out.last_hidden_state if layer is None else out.hidden_states[layer]


def states_after_fixed_prefix(
    backbone: PreTrainedModel, prefix_embeds: torch.Tensor, suffix_embeds: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Hidden states of ``suffix_embeds`` after a prefix that needs no gradient, without backpropagating into it.

    The prefix (the text before the compression tokens) depends on no trainable parameter, so its keys and values
    are computed once without autograd and the suffix attends to them from a KV cache. The result equals the last
    positions of one pass over ``[prefix; suffix]`` (same loss, same gradients), but the backward pass and the saved
    activations cover the S suffix positions only instead of all L.

    Args:
        backbone: The frozen causal LM.
        prefix_embeds: (B, L-S, H) input embeddings of the left-padded prefix.
        suffix_embeds: (B, S, H), may require grad.
        attention_mask: (B, L) for the whole sequence; the suffix positions are all real tokens.

    Returns:
        (B, S, H) in the backbone's dtype.
    """
    s = suffix_embeds.shape[1]
    positions = position_ids(attention_mask)  # (B, L)
    with torch.no_grad():
        prefix = backbone.base_model(
            inputs_embeds=prefix_embeds,
            attention_mask=attention_mask[:, :-s],
            position_ids=positions[:, :-s],
            use_cache=True,
        )
    with activation_checkpointing_off(backbone):  # checkpointed layers would drop the cache
        out = backbone.base_model(
            inputs_embeds=suffix_embeds,
            attention_mask=attention_mask,
            position_ids=positions[:, -s:],
            cache=prefix.cache,
            use_cache=True,
        )
    return out.last_hidden_state  # (B, S, H)


@contextmanager
def activation_checkpointing_off(backbone: nn.Module) -> Iterator[None]:
    """Turns transformers' per-layer activation checkpointing off for one pass, then restores it.

    Layers that checkpoint drop a KV cache passed to them; a pass over a few positions does not need checkpointing.
    """
    layers = checkpointing_layers(backbone)
    for layer in layers:
        layer.gradient_checkpointing = False
    try:
        yield
    finally:
        for layer in layers:
            layer.gradient_checkpointing = True


def checkpointing_layers(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's layers that checkpoint their activations (transformers' ``gradient_checkpointing`` flag)."""
    return [m for m in backbone.modules() if getattr(m, "gradient_checkpointing", False) is True]


def response_nll(
    backbone: PreTrainedModel,
    soft_prompt: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Mean next-token cross-entropy of the frozen backbone regenerating responses after their soft prompts.

    Batched with no per-sample loops: every soft prompt has length N, so ``[R(h); embed(response)]`` is one
    right-padded tensor. Logits are computed only at the positions that predict a real response token.

    Args:
        backbone: The frozen causal LM.
        soft_prompt: R(h), (B, N, H).
        response_ids: (B, T) right-padded target ids.
        response_mask: (B, T) 1 for tokens to predict (a response cut at the generation limit has no EOS target).
        chunk_size: Tokens whose logits are materialised at once. Larger batches go through the LM head in chunks
            that are recomputed in the backward pass, so at most ``chunk_size x V`` logits are alive at a time.

    Returns:
        A scalar: the mean over all real response tokens.
    """
    n = soft_prompt.shape[1]
    embeds = backbone.get_input_embeddings()(response_ids)  # (B, T, H)
    inputs = torch.cat([soft_prompt.to(embeds.dtype), embeds], dim=1)  # (B, N+T, H)
    mask = torch.cat([response_mask.new_ones(response_mask.shape[0], n), response_mask], dim=1)  # (B, N+T)
    hidden = hidden_states(backbone, mask, inputs_embeds=inputs)  # (B, N+T, H)
    predicting = hidden[:, n - 1 : -1]  # (B, T, H): position N-1+t predicts response token t
    selected = response_mask.bool()  # (B, T)
    states, targets = predicting[selected], response_ids[selected]  # (M, H), (M,) for the M real tokens only
    head = backbone.get_output_embeddings()
    if len(targets) <= chunk_size:
        return _cross_entropy_sum(head, states, targets) / len(targets)
    total = sum(
        checkpoint(
            _cross_entropy_sum, head, states[i : i + chunk_size], targets[i : i + chunk_size], use_reentrant=False
        )
        for i in range(0, len(targets), chunk_size)
    )
    return total / len(targets)


def _cross_entropy_sum(head: nn.Module, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(states).float(), targets, reduction="sum")  # logits (m, V) in fp32
