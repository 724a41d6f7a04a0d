"""The trainable head's initial weights: compression tokens (N, H), reconstruction R and alignment A.

Copied next to self-contained saved models with the module, so it imports only torch, transformers and its siblings.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from .backbone_forward import hidden_states


@torch.no_grad()
def init_head(
    backbone: PreTrainedModel, num_tokens: int, embedding_dim: int, seed: int
) -> tuple[nn.Parameter, nn.Linear, nn.Linear]:
    """Initial trainable weights, deterministic for a seed.

    Tokens are drawn around the mean of the backbone's embedding rows with their per-dimension spread; R starts as
    a scaled identity; A is the inverse scale times the identity when D == H (so A(R(h)) = h at first: the embedding
    is the mean compression state) and random else.

    The scale puts the soft prompt R(h) at the norm of the backbone's input embeddings. Final hidden states are an
    order of magnitude larger than input embeddings (SmolLM2: ~48 vs ~3.2); fed back unscaled, the soft prompt is out
    of distribution for the frozen LLM and R needs thousands of steps to shrink. One forward pass over the N tokens
    alone measures the ratio.

    Returns:
        ``compression_tokens`` (N, H) float32, ``reconstruction`` Linear(H, H), ``alignment`` Linear(H, D).
    """
    generator = torch.Generator().manual_seed(seed)
    embeddings = backbone.get_input_embeddings().weight
    rows = embeddings.detach().float().cpu()  # (V, H)
    hidden = rows.shape[1]
    noise = torch.randn(num_tokens, hidden, generator=generator)  # (N, H)
    tokens = nn.Parameter(rows.mean(0) + noise * rows.std(0))  # (N, H)
    reconstruction = nn.Linear(hidden, hidden)
    alignment = nn.Linear(hidden, embedding_dim)
    reconstruction.weight.copy_(torch.eye(hidden))
    reconstruction.bias.zero_()
    if embedding_dim == hidden:
        alignment.weight.copy_(torch.eye(hidden))
    else:
        bound = hidden**-0.5
        alignment.weight.copy_(torch.empty(embedding_dim, hidden).uniform_(-bound, bound, generator=generator))
    alignment.bias.zero_()
    scale = _soft_prompt_scale(backbone, tokens)
    reconstruction.weight.mul_(scale)
    alignment.weight.div_(scale)
    return tokens, reconstruction, alignment


def _soft_prompt_scale(backbone: PreTrainedModel, tokens: torch.Tensor) -> float:
    """Mean input-embedding norm over mean final-state norm of the N tokens run alone."""
    embeddings = backbone.get_input_embeddings().weight
    inputs = tokens.to(embeddings.device, embeddings.dtype)[None]  # (1, N, H)
    mask = torch.ones(inputs.shape[:2], dtype=torch.long, device=inputs.device)  # (1, N)
    states = hidden_states(backbone, mask, inputs_embeds=inputs)  # (1, N, H)
    return (embeddings.float().norm(dim=-1).mean() / states.float().norm(dim=-1).mean().clamp(min=1e-6)).item()
