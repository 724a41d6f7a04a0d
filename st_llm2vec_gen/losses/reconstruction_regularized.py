"""ReconstructionRegularizedLoss: any sentence-transformers loss plus LLM2Vec-Gen's reconstruction term."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import nn

from ..models.llm2vec_gen import LLM2VecGen
from .shared import CITATION, check_model, check_weight

RESPONSE_HINT = (
    "ReconstructionRegularizedLoss needs reconstruction targets: a column of answers routed to the 'response' task "
    "(router_mapping={'<column>': 'response'} in the training arguments), or `replay` pairs."
)


class ReconstructionRegularizedLoss(nn.Module):
    """A sentence-transformers loss (MNRL, CoSENT, Matryoshka, ...) plus the reconstruction term as a regulariser.

    ``L = loss(texts, labels) + weight * CE(response | R(h))``: the second term is LLM2Vec-Gen's reconstruction loss,
    the frozen backbone's cross-entropy of regenerating a response after a soft prompt R(h)
    (:meth:`LLM2VecGen.reconstruction_loss`). Fine-tuning only for a contrastive objective may move the soft prompt
    where the frozen LLM no longer reads it; this term keeps the embedding decodable. Both parts are returned as a
    dict, so the trainer logs them separately. Only the head (compression tokens, R, A) has gradients.

    Reconstruction targets, in order of preference:

    1. A column routed to the ``response`` task (``router_mapping={"llm_answer": "response"}``, any column name):
       the LLM's own answer to each anchor (the first text column), e.g. from ``llm2vec-gen generate``. This is the
       paper's term on the fine-tuning data itself, at no extra forward pass: the anchor's soft prompt from the
       wrapped loss's own pass is reused.
    2. ``replay``: a fixed set of (text, response) pairs, e.g. those the head was first trained on, of which
       ``replay_batch_size`` are reconstructed at every step (rehearsal), for labelled pairs without answers. Costs
       one extra forward pass over that many texts per step.

    Not chosen: pulling R(h) towards its value before fine-tuning. It needs a second pass of the backbone with the
    initial compression tokens at every step plus a frozen copy of the head, and it constrains the soft prompt
    itself instead of what matters, that the frozen LLM still reads it as the answer; the reconstruction loss
    measures exactly that.

    Args:
        model: A SentenceTransformer whose first module is :class:`LLM2VecGen`.
        loss: The sentence-transformers loss to regularise, built on the same ``model``; it receives the text
            columns (the response column removed) and the labels.
        weight: Weight of the reconstruction term (>= 0; 0 turns it off).
        replay: (text, response) pairs reconstructed when the batch has no response column.
        replay_batch_size: Replay pairs per step.
        replay_prompt: Instruction prepended to replay texts (as their encoding used when the head was trained;
            ``None``: none, as in LLM2Vec-Gen training).
        seed: Seed of the replay order.

    References:
        - LLM2Vec-Gen: Generative Embeddings from Large Language Models, https://arxiv.org/abs/2603.10913 (the
          reconstruction objective); ``docs/training.md``, section 6.

    Inputs:
        +--------------------------------------------+--------------------------------+--------------------------+
        | Texts                                      | Labels                         | Number of model output   |
        |                                            |                                | embeddings               |
        +============================================+================================+==========================+
        | the wrapped loss's columns + a column      | the wrapped loss's labels      | those of the wrapped     |
        | routed to ``response`` (the LLM's answers) |                                | loss                     |
        +--------------------------------------------+--------------------------------+--------------------------+
        | the wrapped loss's columns, with           | the wrapped loss's labels      | those of the wrapped     |
        | ``replay`` pairs                           |                                | loss                     |
        +--------------------------------------------+--------------------------------+--------------------------+

    Relations:
        - :class:`LLM2VecGenLoss` is the self-supervised objective that trains the head in the first place.

    Example::

        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from st_llm2vec_gen import DEFAULT_MODEL, ReconstructionRegularizedLoss

        model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
        # columns: anchor, positive, llm_answer; router_mapping={"llm_answer": "response"} in the training arguments
        loss = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), weight=0.5)
    """

    def __init__(
        self,
        model: SentenceTransformer,
        loss: nn.Module,
        weight: float = 1.0,
        replay: Sequence[tuple[str, str]] | None = None,
        replay_batch_size: int = 4,
        replay_prompt: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_model(model, "ReconstructionRegularizedLoss")
        check_weight("weight", weight)
        if isinstance(replay_batch_size, bool) or not isinstance(replay_batch_size, int) or replay_batch_size < 1:
            raise ValueError(f"replay_batch_size must be an integer >= 1, got {replay_batch_size!r}")
        self.model = model
        self.loss = loss
        self.weight = weight
        self.replay = _check_pairs(replay or [])
        self.replay_batch_size = min(replay_batch_size, max(len(self.replay), 1))
        self.replay_prompt = replay_prompt
        self._generator = torch.Generator().manual_seed(seed)
        self._order: list[int] = []

    @property
    def module(self) -> LLM2VecGen:
        """The LLM2VecGen module, also when the trainer has wrapped the model in DDP."""
        return getattr(self.model, "module", self.model)[0]

    def forward(self, sentence_features: list[dict[str, Any]], labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        responses = [f for f in sentence_features if f.get("task") == "response"]
        texts = [f for f in sentence_features if f.get("task") != "response"]
        if len(responses) > 1:
            raise ValueError(f"Expected at most one column routed to 'response', got {len(responses)}.")
        if not texts:
            raise ValueError("No text column: the wrapped loss needs at least one column besides the answers.")
        inner = self.loss(texts, labels)
        parts = dict(inner) if isinstance(inner, dict) else {type(self.loss).__name__: inner}
        if self.weight:
            soft_prompt, target = self._targets(texts[0], responses[0] if responses else None)
            ce = self.module.reconstruction_loss(soft_prompt, target["input_ids"], target["attention_mask"])
            parts["reconstruction"] = self.weight * ce
        return parts

    def _targets(
        self, anchor: dict[str, Any], response: dict[str, Any] | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The soft prompts (B, N, H) to decode from and the responses to reconstruct (ids and mask, (B, T))."""
        if response is not None:
            return self._anchor_soft_prompt(anchor), response
        if not self.replay:
            raise ValueError(RESPONSE_HINT)
        texts, answers = zip(*(self.replay[i] for i in self._next_replay()))
        module = self.module
        device = module.compression_tokens.device
        features = {k: v.to(device) for k, v in module.preprocess(list(texts), prompt=self.replay_prompt).items()}
        target = {k: v.to(device) for k, v in module.preprocess_responses(list(answers)).items()}
        return self.model(features)["soft_prompt"], target

    def _anchor_soft_prompt(self, anchor: dict[str, Any]) -> torch.Tensor:
        """The anchor's soft prompt from the wrapped loss's pass (the module writes it into the features), or from
        a new pass where that loss ran the model elsewhere or without gradients (e.g. cached losses)."""
        soft_prompt = anchor.get("soft_prompt")
        if soft_prompt is None or (torch.is_grad_enabled() and not soft_prompt.requires_grad):
            soft_prompt = self.model(anchor)["soft_prompt"]
        return soft_prompt

    def _next_replay(self) -> list[int]:
        """The next ``replay_batch_size`` indices of a seeded permutation of the replay pairs, renewed when used up."""
        if len(self._order) < self.replay_batch_size:
            self._order += torch.randperm(len(self.replay), generator=self._generator).tolist()
        batch, self._order = self._order[: self.replay_batch_size], self._order[self.replay_batch_size :]
        return batch

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss": type(self.loss).__name__,
            "weight": self.weight,
            "replay_pairs": len(self.replay),
            "replay_batch_size": self.replay_batch_size,
        }

    @property
    def citation(self) -> str:
        return CITATION


def _check_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The replay pairs as a list, each checked to be two non-empty strings.

    Raises:
        ValueError: Naming the first bad pair.
    """
    checked = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) and s for s in pair)):
            raise ValueError(f"replay pair {i} must be (text, response), two non-empty strings, got {pair!r}")
        checked.append((pair[0], pair[1]))
    return checked
