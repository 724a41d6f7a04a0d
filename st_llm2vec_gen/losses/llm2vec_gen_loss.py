"""LLM2VecGenLoss: alignment with the teacher's embedding of the response + reconstruction of the response."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import nn

from ..models.llm2vec_gen import LLM2VecGen

ROUTER_HINT = (
    "LLM2VecGenLoss needs the response column tokenized as decoder targets: pass "
    "router_mapping={'response': 'response'} to SentenceTransformerTrainingArguments."
)


class LLM2VecGenLoss(nn.Module):
    """The LLM2Vec-Gen objective, for ``SentenceTransformerTrainer``.

    ``L = alignment_weight * MSE(student(query), teacher(response)) + reconstruction_weight * CE(response | R(h))``,
    where the reconstruction term is the frozen backbone's next-token cross-entropy of the response after the soft
    prompt R(h) of the query. Both terms are returned as a dict, so the trainer logs them separately.

    Dataset columns, in this order: ``query`` (text), ``response`` (text) and, optionally, ``label`` (the teacher's
    embedding of the response, a list of floats). Without ``label``, the frozen backbone itself is the teacher,
    computed online by :meth:`LLM2VecGen.mean_pooled`, the code of the precomputed ``self`` teacher. The training
    arguments need ``router_mapping={"response": "response"}``.

    Args:
        model: A SentenceTransformer whose first module is :class:`LLM2VecGen`.
        alignment_weight: Weight of the alignment MSE.
        reconstruction_weight: Weight of the reconstruction cross-entropy.
    """

    def __init__(
        self, model: SentenceTransformer, alignment_weight: float = 1.0, reconstruction_weight: float = 1.0
    ) -> None:
        super().__init__()
        if not isinstance(model[0], LLM2VecGen):
            raise TypeError(f"LLM2VecGenLoss needs an LLM2VecGen model, got {type(model[0]).__name__} first.")
        for name, weight in (("alignment_weight", alignment_weight), ("reconstruction_weight", reconstruction_weight)):
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {weight!r}")
        self.model = model
        self.alignment_weight = alignment_weight
        self.reconstruction_weight = reconstruction_weight

    @property
    def module(self) -> LLM2VecGen:
        """The LLM2VecGen module, also when the trainer has wrapped the model in DDP."""
        return getattr(self.model, "module", self.model)[0]

    def forward(self, sentence_features: list[dict[str, Any]], labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if len(sentence_features) != 2:
            raise ValueError(
                f"LLM2VecGenLoss expects two text columns, query then response, got {len(sentence_features)}."
            )
        query, response = sentence_features
        if response.get("task") != "response":
            if query.get("task") == "response":
                raise ValueError(
                    "LLM2VecGenLoss got the response column first: order the dataset columns query, response "
                    "(then optionally label)."
                )
            raise ValueError(ROUTER_HINT)
        out = self.model(query)  # through the (possibly DDP-wrapped) model, so gradients synchronise
        embedding = out["sentence_embedding"]  # (B, D)
        if labels is None:
            target = self.module.mean_pooled(response["input_ids"], response["attention_mask"])  # (B, H)
        else:
            target = labels.to(embedding.device, torch.float32)  # (B, D)
            if not torch.isfinite(target).all():
                raise ValueError("The teacher labels hold NaN or infinite values: the head would turn into NaN.")
        if target.shape != embedding.shape:
            raise ValueError(
                f"Teacher embeddings have shape {tuple(target.shape)} but the student's are "
                f"{tuple(embedding.shape)}: the head's embedding_dim must equal the teacher's dimension."
            )
        alignment = F.mse_loss(embedding.float(), target)
        reconstruction = self.module.reconstruction_loss(
            out["soft_prompt"], response["input_ids"], response["attention_mask"]
        )
        return {
            "alignment": self.alignment_weight * alignment,
            "reconstruction": self.reconstruction_weight * reconstruction,
        }

    def get_config_dict(self) -> dict[str, float]:
        return {"alignment_weight": self.alignment_weight, "reconstruction_weight": self.reconstruction_weight}

    @property
    def citation(self) -> str:
        return "LLM2Vec-Gen, arXiv:2603.10913 (2026)."


def reconstruction_loss(
    module: LLM2VecGen,
    soft_prompt: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """The reconstruction term alone: :meth:`LLM2VecGen.reconstruction_loss` of ``module``."""
    return module.reconstruction_loss(soft_prompt, response_ids, response_mask, chunk_size)
