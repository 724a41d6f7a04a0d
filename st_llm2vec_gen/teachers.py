"""Teachers: unsupervised encoders of the LLM's responses, whose embeddings the student is aligned with.

- ``"self"``: the frozen backbone itself, masked mean of its final hidden states over the response tokens (the
  teacher-free variant the paper proposes as future work: no external model at all).
- any sentence-transformers model path or id, e.g. the unsupervised LLM2Vec model of the same backbone (the paper's
  teacher) or unsupervised BGE-M3.

Teacher embeddings are computed under ``no_grad`` and usually precomputed into a ``label`` column, so training never
holds the teacher in memory.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from .models.llm2vec_gen import LLM2VecGen

logger = logging.getLogger(__name__)


class Teacher(Protocol):
    """Anything with an embedding dimension that embeds a list of texts into a (B, D) float tensor."""

    dim: int

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor: ...


class SelfTeacher:
    """The student's own frozen backbone as the teacher: masked mean of final hidden states of the response.

    The response is tokenized exactly as for reconstruction (:meth:`LLM2VecGen.preprocess_responses`), so the
    precomputed and the online teacher give the same embedding.
    """

    def __init__(self, module: LLM2VecGen) -> None:
        self.module = module
        self.dim = module.hidden_size

    def embed_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the backbone's final hidden states over real tokens: (B, T) ids -> (B, H) float32."""
        return self.module.mean_pooled(input_ids, attention_mask)

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor:
        """Embeds responses in length-sorted batches; returns (B, H) float32 on CPU in the input order."""
        device = self.module.compression_tokens.device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        for start in tqdm(range(0, len(texts), batch_size), disable=not show_progress, desc="Self teacher"):
            batch = order[start : start + batch_size]
            features = self.module.preprocess_responses([texts[i] for i in batch])
            out[batch] = self.embed_features(**{k: v.to(device) for k, v in features.items()}).cpu()
        return out


class SentenceTransformerTeacher:
    """Any sentence-transformers model as the teacher, e.g. the paper's unsupervised LLM2Vec model of the backbone.

    Args:
        name_or_path: Model path or hub id.
        prompt: Optional instruction the teacher puts before each response.
        normalized: Keep the model's ``Normalize`` module; ``False`` takes the vector before it (a unit-norm target
            makes the alignment MSE tiny next to the reconstruction term).
        **kwargs: Passed to ``SentenceTransformer`` (``device``, ``trust_remote_code``, ``model_kwargs`` such as
            ``{"dtype": "bfloat16"}``, ...).
    """

    def __init__(self, name_or_path: str, prompt: str | None = None, normalized: bool = True, **kwargs: Any) -> None:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Normalize

        self.model = SentenceTransformer(name_or_path, **kwargs)
        if not normalized:
            while len(self.model) > 1 and isinstance(self.model[len(self.model) - 1], Normalize):
                del self.model[len(self.model) - 1]
        self.prompt = prompt
        self.dim = self.model.get_embedding_dimension()

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor:
        embeddings = self.model.encode(
            texts, batch_size=batch_size, prompt=self.prompt, convert_to_tensor=True, show_progress_bar=show_progress
        )
        return embeddings.float().cpu()  # (B, D)


def load_teacher(spec: str, module: LLM2VecGen | None = None, **kwargs) -> Teacher:
    """``"self"`` (needs the student ``module``) or a sentence-transformers model path or id."""
    if spec == "self":
        if module is None:
            raise ValueError("The 'self' teacher needs the LLM2VecGen module whose backbone it uses.")
        return SelfTeacher(module)
    return SentenceTransformerTeacher(spec, **kwargs)


def check_teacher_dim(teacher: Teacher, module: LLM2VecGen) -> None:
    """Raises a ValueError when the teacher's dimension differs from the student's embedding dimension."""
    if teacher.dim != module.embedding_dim:
        raise ValueError(
            f"The teacher embeds into {teacher.dim} dimensions but the LLM2Vec-Gen head outputs "
            f"{module.embedding_dim}: build the model with embedding_dim={teacher.dim}."
        )
