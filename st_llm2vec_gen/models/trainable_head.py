"""The trainable head of an LLM2Vec-Gen module as one ``nn.Module``: compression tokens (N, H), R and A.

Its state dict is what ``model.safetensors`` holds, under the same names (``compression_tokens``,
``reconstruction.weight``, ``reconstruction.bias``, ``alignment.weight``, ``alignment.bias``), so saved heads load into
it with ``load_state_dict(strict=True)``.

Copied next to self-contained saved models with the module, so it imports only torch, transformers and its siblings.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from transformers import PreTrainedModel

from .head import init_head


class TrainableHead(nn.Module):
    """The weights that train and get saved: ``compression_tokens`` (N, H), ``reconstruction`` R Linear(H, H) and
    ``alignment`` A Linear(H, D).

    Args:
        num_tokens: Number N of compression tokens.
        hidden_size: The backbone's hidden size H.
        embedding_dim: Output dimension D.

    The constructor gives the shapes only (values as ``nn.Linear`` and ``torch.empty`` leave them): use
    :meth:`initial` for a fresh head, or :meth:`load_weights` for saved values.
    """

    def __init__(self, num_tokens: int, hidden_size: int, embedding_dim: int) -> None:
        super().__init__()
        self.compression_tokens = nn.Parameter(torch.empty(num_tokens, hidden_size))  # (N, H)
        self.reconstruction = nn.Linear(hidden_size, hidden_size)  # R: (B, K, H) -> (B, K, H)
        self.alignment = nn.Linear(hidden_size, embedding_dim)  # A: (B, K, H) -> (B, K, D)

    @classmethod
    def initial(cls, backbone: PreTrainedModel, num_tokens: int, embedding_dim: int, seed: int) -> TrainableHead:
        """A fresh head with :func:`~.head.init_head`'s initial values, deterministic for a seed (float32, CPU)."""
        tokens, reconstruction, alignment = init_head(backbone, num_tokens, embedding_dim, seed)
        with torch.device("meta"):  # the shapes without memory or random draws; the initial values replace them
            head = cls(num_tokens, tokens.shape[1], embedding_dim)
        head.compression_tokens, head.reconstruction, head.alignment = tokens, reconstruction, alignment
        return head

    @classmethod
    def weight_names(cls) -> tuple[str, ...]:
        """The names of the head's weights, in the saved file and in :meth:`state_dict`."""
        with torch.device("meta"):
            return tuple(cls(1, 1, 1).state_dict())

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, D)``: the constructor's arguments for a head like this one."""
        return (*self.compression_tokens.shape, self.alignment.out_features)

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Copies saved weights in with ``load_state_dict(strict=True)``, once their names and shapes are checked
        against the head's state dict, so that a refused set changes nothing.

        Raises:
            ValueError: If a weight is missing, unexpected or has the wrong shape, naming it.
        """
        expected = {name: tuple(tensor.shape) for name, tensor in self.state_dict().items()}
        missing, unexpected = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
        if missing or unexpected:
            raise ValueError(f"LLM2Vec-Gen weights mismatch: missing {missing}, unexpected {unexpected}")
        for name, shape in expected.items():
            if tuple(weights[name].shape) != shape:
                raise ValueError(
                    f"LLM2Vec-Gen weight {name!r} has shape {tuple(weights[name].shape)}, expected {shape} for this "
                    "backbone and config."
                )
        with torch.no_grad():
            self.load_state_dict(weights, strict=True)
