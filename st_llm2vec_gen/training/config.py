"""``TrainConfig``: every setting of a training run, read from a YAML recipe."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..io.settings import build
from ..models.backbones import check_dtype
from ..models.config import LLM2VecGenConfig


@dataclass
class TrainConfig:
    """Everything a training run needs; recipes in ``training/recipes`` are YAML files of these fields.

    Defaults are the paper's where they apply: lr 3e-4 (Qwen3), 100 warm-up steps, a global batch of 32, a linear
    schedule planned over 20,000 steps and stopped after 5,000, max length 512, both loss weights 1.0, 10 tokens.

    Attributes:
        data: JSONL (or ``.jsonl.gz``)/JSON/CSV file of ``query``/``response`` pairs, or a list of them (a query
            already read from an earlier file is skipped).
        output_dir: Checkpoints, ``final/`` and ``log_history.json``; an existing run there is never replaced unless
            ``overwrite_output_dir`` (or continued with ``resume_from_checkpoint``).
        model: The module's settings (:class:`LLM2VecGenConfig`); in YAML its keys may also stand at the top level.
        init_from: A saved LLM2Vec-Gen model or checkpoint whose head (compression tokens, R, A) the run starts from
            instead of a fresh one, e.g. to continue the shipped default on new data or with another objective; its
            backbone and ``num_tokens`` must match. A fresh optimizer and schedule (``resume_from_checkpoint`` keeps
            them).
        teacher: ``"self"`` (the frozen backbone's mean pooling of the response) or a sentence-transformers model.
        teacher_prompt: Instruction the sentence-transformers teacher puts before each response.
        teacher_kwargs: Options of the teacher: for ``self``, ``layer`` and ``style`` (see
            :class:`~st_llm2vec_gen.training.teachers.SelfTeacher`); for a sentence-transformers teacher, arguments of
            ``SentenceTransformer`` (``trust_remote_code``, ``model_kwargs`` such as ``{"dtype": "bfloat16"}``, ...),
            e.g. for the paper's LLM2Vec teacher.
        teacher_normalized: Whether the teacher's vectors pass its ``Normalize`` module; ``False`` takes them before it
            (a unit-norm target makes the MSE tiny next to the reconstruction term).
        contrastive_weight: Weight of the optional in-batch contrastive term (0: the paper's objective).
        temperature: Its temperature.
        query_target_weight: Share w of the teacher's embedding of the *query* in the target:
            ``(1 - w) * teacher(response) + w * teacher(query)``, a target that keeps some of the input (0: the
            paper's, the response alone). The query is embedded as given in the data, without ``query_prompt``.
        group_by_length: Batches of pairs of similar length (:class:`LengthGroupedBatchSampler`): less padding.
        query_prompt: Instruction put before each training query (as ``encode_query`` does at inference), except
            queries that already start with one of the model's prompts (e.g. wrapped passages); ``None``: none.
        batch_size: Global batch size: split over devices and gradient accumulation, the same on 1 or 2 GPUs.
        max_steps: Optimizer steps to train.
        schedule_steps: Steps the linear decay is planned over (the paper: 20,000, stopped at 5,000); ``None``: decay
            to zero at ``max_steps``.
        dtype: Backbone weights, e.g. ``"bfloat16"`` on GPU; ``None``: the machine's default
            (:func:`~st_llm2vec_gen.models.backbones.default_dtype`: bfloat16 on a CPU with fast bf16 matrix products,
            the head and the loss staying float32; float32 elsewhere). ``bf16``: autocast.
        limit: Use only the first N pairs.
        extra_args: Any other ``SentenceTransformerTrainingArguments``.
    """

    data: str | list[str] = "training/data/responses.jsonl"
    output_dir: str = "outputs/llm2vec-gen"
    model: LLM2VecGenConfig = field(default_factory=LLM2VecGenConfig)
    init_from: str | None = None
    teacher: str = "self"
    teacher_prompt: str | None = None
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    teacher_normalized: bool = True
    learning_rate: float = 3e-4
    warmup_steps: int = 100
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    max_steps: int = 5000
    schedule_steps: int | None = 20000
    alignment_weight: float = 1.0
    reconstruction_weight: float = 1.0
    contrastive_weight: float = 0.0
    temperature: float = 0.05
    query_target_weight: float = 0.0
    query_prompt: str | None = None
    group_by_length: bool = True
    dtype: str | None = None
    bf16: bool = False
    activation_checkpointing: bool = False
    attn_implementation: str | None = None
    limit: int | None = None
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2
    seed: int = 0
    resume_from_checkpoint: str | bool | None = None
    overwrite_output_dir: bool = False
    extra_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive = ("learning_rate", "batch_size", "gradient_accumulation_steps", "max_steps", "logging_steps")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.schedule_steps is not None and self.schedule_steps < self.max_steps:
            raise ValueError(f"schedule_steps ({self.schedule_steps}) must be at least max_steps ({self.max_steps})")
        if not 0.0 <= self.query_target_weight <= 1.0:
            raise ValueError(f"query_target_weight must be in [0, 1], got {self.query_target_weight}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 (or null for all pairs), got {self.limit}")
        if self.dtype is not None:
            check_dtype(self.dtype)  # a typo fails here, before any model loads

    @classmethod
    def from_yaml(cls, path: str, **overrides: Any) -> TrainConfig:
        """Reads a YAML recipe; unknown keys and wrongly typed values are an error naming the field.

        The module's settings (``backbone``, ``num_tokens``, ``max_seq_length``, ...) may be written under ``model:``
        or at the top level; ``overrides`` use the same names (``model.num_tokens`` works too).
        """
        import yaml

        try:
            with open(path, encoding="utf-8") as f:
                values = yaml.safe_load(f) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path} is not valid YAML: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a mapping of settings, found {type(values).__name__}")
        return cls.from_dict({**values, **overrides}, source=path)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "TrainConfig") -> TrainConfig:
        """Builds a config from flat or nested values (see :meth:`from_yaml`)."""
        values = dict(values)
        model = dict(values.pop("model", None) or {})
        module_keys = {f.name for f in dataclasses.fields(LLM2VecGenConfig)}
        for key in list(values):
            if (name := key.removeprefix("model.")) in module_keys:
                model[name] = values.pop(key)
        return build(cls, {**values, "model": model}, source)
