"""LLM2VecGenLoss: alignment with the teacher's embedding of the response + reconstruction of the response."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import nn

from ..models.llm2vec_gen import LLM2VecGen
from .shared import CITATION, check_model, check_weight

ROUTER_HINT = (
    "LLM2VecGenLoss needs the response column tokenized as decoder targets: pass "
    "router_mapping={'response': 'response'} to SentenceTransformerTrainingArguments."
)


class LLM2VecGenLoss(nn.Module):
    """The LLM2Vec-Gen objective, for ``SentenceTransformerTrainer``.

    ``L = alignment_weight * MSE(student(query), teacher(response)) + reconstruction_weight * CE(response | R(h))``,
    where the reconstruction term is the frozen backbone's next-token cross-entropy of the response after the soft
    prompt R(h) of the query. The terms are returned as a dict, so the trainer logs them separately.
    ``contrastive_weight > 0`` adds the hybrid objective the paper lists as future work: an in-batch InfoNCE term
    between student(query) and teacher(response) (:func:`in_batch_contrastive`); 0 keeps the paper's objective.

    Args:
        model: A SentenceTransformer whose first module is :class:`LLM2VecGen`.
        alignment_weight: Weight of the alignment MSE.
        reconstruction_weight: Weight of the reconstruction cross-entropy.
        contrastive_weight: Weight of the in-batch contrastive term (0: off, the paper's objective).
        temperature: Temperature of the contrastive term's cosine similarities.

    References:
        - LLM2Vec-Gen: Generative Embeddings from Large Language Models, https://arxiv.org/abs/2603.10913
        - Training in this package: ``docs/training.md``; ``llm2vec-gen train RECIPE`` builds all of the below.

    Requirements:
        1. Training arguments with ``router_mapping={"response": "response"}``: the response column is tokenized as
           decoder targets (:meth:`LLM2VecGen.preprocess_responses`), not as an input to embed.
        2. Unlabelled queries and the LLM's own answers to them (``llm2vec-gen generate``).

    Inputs:
        +---------------------+---------------------------------------------+------------------------------------+
        | Texts               | Labels                                      | Number of model output embeddings  |
        +=====================+=============================================+====================================+
        | (query, response)   | none: the frozen backbone's mean pooling of | 1 (the query's; the response is    |
        | pairs               | the response, computed online               | only a reconstruction target)      |
        +---------------------+---------------------------------------------+------------------------------------+
        | (query, response)   | the teacher's embedding of the response (D  | 1                                  |
        | pairs               | floats)                                     |                                    |
        +---------------------+---------------------------------------------+------------------------------------+

        An optional bool column ``response_truncated`` (after the texts; it needs :class:`LLM2VecGenTrainer`, whose
        collator passes it through) marks responses cut at the generation limit: their appended EOS is no target.

    Relations:
        - :class:`ReconstructionRegularizedLoss` adds the same reconstruction term to any sentence-transformers loss.

    Example::

        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainingArguments
        from st_llm2vec_gen import LLM2VecGenLoss, LLM2VecGenTrainer, create_model

        model = create_model()  # the embedded SmolLM2 backbone, a fresh head
        train_dataset = Dataset.from_dict({
            "query": ["Where do polar bears live?", "What is the capital of France?"],
            "response": ["Polar bears live in the Arctic.", "The capital of France is Paris."],
        })
        args = SentenceTransformerTrainingArguments(output_dir="out", router_mapping={"response": "response"})
        loss = LLM2VecGenLoss(model, contrastive_weight=1.0)
        LLM2VecGenTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss).train()
    """

    def __init__(
        self,
        model: SentenceTransformer,
        alignment_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        contrastive_weight: float = 0.0,
        temperature: float = 0.05,
    ) -> None:
        super().__init__()
        check_model(model, "LLM2VecGenLoss")
        weights = {"alignment_weight": alignment_weight, "reconstruction_weight": reconstruction_weight,
                   "contrastive_weight": contrastive_weight}  # fmt: skip
        for name, weight in weights.items():
            check_weight(name, weight)
        check_weight("temperature", temperature, positive=True)
        self.model = model
        self.alignment_weight = alignment_weight
        self.reconstruction_weight = reconstruction_weight
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature

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
        response_mask = response["attention_mask"]  # (B, T)
        if "truncated" in response:  # the response_truncated column: a cut response's appended EOS is no target
            response_mask = _without_final_eos(response_mask, response["truncated"].to(response_mask.device))
        if labels is None:
            target = self.module.mean_pooled(response["input_ids"], response_mask)  # (B, H)
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
        reconstruction = self.module.reconstruction_loss(out["soft_prompt"], response["input_ids"], response_mask)
        parts = {
            "alignment": self.alignment_weight * alignment,
            "reconstruction": self.reconstruction_weight * reconstruction,
        }
        if self.contrastive_weight:
            parts["contrastive"] = self.contrastive_weight * in_batch_contrastive(embedding, target, self.temperature)
        return parts

    def get_config_dict(self) -> dict[str, float]:
        return {
            "alignment_weight": self.alignment_weight,
            "reconstruction_weight": self.reconstruction_weight,
            "contrastive_weight": self.contrastive_weight,
            "temperature": self.temperature,
        }

    @property
    def citation(self) -> str:
        return CITATION


def in_batch_contrastive(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of each query's embedding (B, D) against the teacher embeddings of the batch's responses (B, D): the
    query's own response is the positive, the other responses of the (per-device) batch the negatives; cosine
    similarities over ``temperature``."""
    logits = F.normalize(student.float(), dim=-1) @ F.normalize(teacher.float(), dim=-1).T / temperature  # (B, B)
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def _without_final_eos(mask: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
    """``mask`` (B, T) right-padded with the EOS that tokenization appended dropped for the rows where ``cut`` (B,)."""
    mask = mask.clone()
    last = mask.sum(1) - 1  # (B,): the position of each row's appended EOS
    rows = cut.nonzero().squeeze(1)
    mask[rows, last[rows]] = 0
    return mask


def reconstruction_loss(
    module: LLM2VecGen,
    soft_prompt: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """The reconstruction term alone: :meth:`LLM2VecGen.reconstruction_loss` of ``module``."""
    return module.reconstruction_loss(soft_prompt, response_ids, response_mask, chunk_size)
