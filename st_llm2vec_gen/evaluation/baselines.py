"""Baselines on the same frozen backbone, as mteb encoders: input-centric pooling and HyDE.

- :class:`BackbonePooling`: the masked mean or the last token of the backbone's final hidden states over the
  text itself (input-centric embeddings). Both poolings come from one forward pass, cached per text, so the two
  baselines and HyDE's documents cost one pass over the data.
- :class:`HyDE`: generate an answer to each query with the backbone (its chat template, greedy), then embed the
  answer with the teacher; documents are embedded by the teacher directly. The cost of generation is the point of
  comparison: LLM2Vec-Gen embeds the potential answer in one forward pass.

Neither baseline uses instructions: measured on STS-B, instructions lower input-centric pooling (docs/training.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction
from mteb.types import PromptType

from ..generation.engines import Engine, GenerationSettings, TransformersEngine
from ..models.backbone_forward import masked_mean
from ..models.llm2vec_gen import LLM2VecGen
from ..training.teachers import Teacher

logger = logging.getLogger(__name__)

Embed = Callable[[list[str]], torch.Tensor]
"""Texts -> (B, D) float32 embeddings."""


def _meta(name: str, dim: int) -> ModelMeta:
    return ModelMeta.create_empty(
        {"name": f"st-llm2vec-gen/{name}", "embed_dim": dim, "similarity_fn_name": ScoringFunction.COSINE}
    )


def _texts(inputs: Any) -> list[str]:
    """The texts of an mteb dataloader, in order."""
    return [text for batch in inputs for text in batch["text"]]


class BackbonePool:
    """One forward pass of the frozen backbone per text, mean- and last-token-pooled, cached by text.

    Args:
        module: The LLM2Vec-Gen module whose backbone and tokenizer are used.
        batch_size: Texts per forward pass (length-sorted).
        max_length: Tokens per text; longer texts are cut at the end.
    """

    def __init__(self, module: LLM2VecGen, batch_size: int = 32, max_length: int = 512) -> None:
        self.module = module
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.inference_mode()
    def _forward(self, texts: list[str]) -> None:
        tokenizer = self.module.tokenizer
        device = self.module.compression_tokens.device
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            enc = tokenizer(
                batch,
                padding=True,
                padding_side="left",
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            mask = enc["attention_mask"]  # (B, L), left-padded: the last position is the last real token
            hidden = self.module.text_states(enc["input_ids"], mask)  # (B, L, H)
            means = masked_mean(hidden, mask)  # (B, H) float32
            for text, mean, last in zip(batch, means.cpu(), hidden[:, -1].float().cpu()):
                self.cache[text] = (mean, last)

    def embed(self, texts: list[str], pooling: str) -> torch.Tensor:
        """(B, H) pooled embeddings; ``pooling`` is ``"mean"`` or ``"last"``."""
        missing = sorted({t for t in texts if t not in self.cache}, key=len)
        if missing:
            self._forward(missing)
        index = 0 if pooling == "mean" else 1
        return torch.stack([self.cache[t][index] for t in texts])


class _TextEncoder(AbsEncoder):
    """mteb's encoder protocol over ``embed_for(texts, prompt_type) -> (B, D)``."""

    def embed_for(self, texts: list[str], prompt_type: PromptType | None) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:  # fmt: skip
        return self.embed_for(_texts(inputs), prompt_type).numpy()


class BackbonePooling(_TextEncoder):
    """mteb encoder: input-centric pooling of the backbone (``"mean"`` or ``"last"``), no instructions."""

    def __init__(self, pool: BackbonePool, pooling: str = "mean") -> None:
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
        self.pool = pool
        self.pooling = pooling
        self.model = None
        self.mteb_model_meta = _meta(f"backbone-{pooling}-pooling", pool.module.hidden_size)

    def embed(self, texts: list[str]) -> torch.Tensor:
        return self.pool.embed(texts, self.pooling)

    def embed_for(self, texts: list[str], prompt_type: PromptType | None) -> torch.Tensor:
        return self.embed(texts)  # input-centric: queries and documents alike


class TeacherEncoder(_TextEncoder):
    """mteb encoder over the training teacher itself (:func:`~st_llm2vec_gen.training.teachers.load_teacher`), so the
    suite's teacher row is computed by exactly the code that made the training targets; no instructions, except
    ``query_instructions``: the paper's teacher gets its own instructions on BRIGHT queries.

    Args:
        teacher: The teacher (``SelfTeacher`` or a sentence-transformers teacher).
        batch_size: Texts per batch.
        query_instructions: ``{mteb task name: instruction}`` put before each query of that task as it is (the
            published BRIGHT evaluation's concatenation; its instructions end in a space); documents get none.
    """

    def __init__(
        self, teacher: Teacher, batch_size: int = 32, query_instructions: dict[str, str] | None = None
    ) -> None:
        self.teacher = teacher
        self.batch_size = batch_size
        self.query_instructions = dict(query_instructions or {})
        self.model = None
        self.mteb_model_meta = _meta("teacher", teacher.dim)

    def embed(self, texts: list[str]) -> torch.Tensor:
        return self.teacher.encode(texts, batch_size=self.batch_size)

    def embed_for(self, texts: list[str], prompt_type: PromptType | None) -> torch.Tensor:
        return self.embed(texts)

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:  # fmt: skip
        texts = _texts(inputs)
        instruction = self.query_instructions.get(task_metadata.name) if prompt_type == PromptType.query else None
        if instruction:
            texts = [instruction + text for text in texts]
        return self.embed(texts).numpy()


class HyDE(_TextEncoder):
    """mteb encoder: queries become the backbone's generated answers, embedded by the teacher.

    Args:
        module: The LLM2Vec-Gen module whose backbone generates.
        teacher: Embeds texts (answers and documents).
        dim: The teacher's dimension.
        settings: Generation settings (greedy by default; ``max_new_tokens`` bounds the cost).
        engine: The generator; by default the module's backbone through transformers.
    """

    def __init__(
        self,
        module: LLM2VecGen,
        teacher: Embed,
        dim: int,
        settings: GenerationSettings,
        engine: Engine | None = None,
    ) -> None:
        self.module = module
        self.teacher = teacher
        self.settings = settings
        self.engine = engine or TransformersEngine(module.backbone, module.tokenizer)
        self.answers: dict[str, str] = {}
        self.model = None
        self.mteb_model_meta = _meta("hyde", dim)

    def generate(self, queries: list[str]) -> list[str]:
        """The backbone's answers, cached; an empty answer falls back to the query itself."""
        missing = sorted({q for q in queries if q not in self.answers}, key=len)  # similar lengths share a batch
        for query, generation in zip(missing, self.engine.answer(missing, self.settings)):
            self.answers[query] = generation.text or query
        return [self.answers[q] for q in queries]

    def embed_queries(self, queries: list[str]) -> torch.Tensor:
        return self.teacher(self.generate(queries))

    def embed_for(self, texts: list[str], prompt_type: PromptType | None) -> torch.Tensor:
        return self.embed_queries(texts) if prompt_type == PromptType.query else self.teacher(texts)
