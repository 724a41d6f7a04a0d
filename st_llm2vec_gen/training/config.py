"""``TrainConfig``: every setting of a training run, read from a YAML recipe.

A recipe is the module (``model``), the ``teacher``, the ``loss``, the ``data``, a few settings of the run, and an
``args`` block handed to ``SentenceTransformerTrainingArguments`` as it is. A recipe may start from another one
(``extends: base.yaml``, beside it): mappings merge key by key, the extending recipe's values win.

Recipes written before these blocks existed (every setting at the top level: ``learning_rate``, ``teacher_kwargs``,
``limit``, ``extra_args``, ...) are refused with an error naming where each old key now lives.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.records import check_file_limits
from ..io.settings import build, coerce
from ..models.backbones import check_dtype
from ..models.config import LLM2VecGenConfig
from .teachers import TeacherSettings


@dataclass
class LossSettings:
    """The objective: :class:`~st_llm2vec_gen.LLM2VecGenLoss`'s weights and the target it aligns with.

    Attributes:
        alignment_weight: Weight of the alignment MSE.
        reconstruction_weight: Weight of the reconstruction cross-entropy.
        contrastive_weight: Weight of the optional in-batch contrastive term (0: the paper's objective).
        temperature: Its temperature.
        query_target_weight: Share w of the teacher's embedding of the *query* in the target:
            ``(1 - w) * teacher(response) + w * teacher(query)``, a target that keeps some of the input (0: the
            paper's, the response alone). The query is embedded as given in the data, without its prompt.
    """

    alignment_weight: float = 1.0
    reconstruction_weight: float = 1.0
    contrastive_weight: float = 0.0
    temperature: float = 0.05
    query_target_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.query_target_weight <= 1.0:
            raise ValueError(f"query_target_weight must be in [0, 1], got {self.query_target_weight}")


@dataclass
class DataSettings:
    """The training pairs.

    Attributes:
        paths: JSONL (or ``.jsonl.gz``)/JSON/CSV files of ``query``/``response`` pairs (a query already read from an
            earlier file is skipped); a single path may be written as a string.
        limit: Use only the first N pairs.
        query_prompt: Instruction before each training query, given to the trainer as ``args.prompts`` and joined
            by the module as at inference (``encode_query``). A query that already starts with one of the model's
            prompts (e.g. a passage wrapped in the document prompt) is trained with that prompt instead.
        group_by_length: Batches of pairs of similar length (:class:`LengthGroupedBatchSampler`): less padding.
        file_limits: One per path: read only the first N rows of that file (null: all). Pins a recipe's rows while
            a response snapshot grows, which a total ``limit`` does not when a later file follows the growing one.
    """

    paths: list[str] = field(default_factory=lambda: ["training/data/responses.jsonl"])
    limit: int | None = None
    query_prompt: str | None = None
    group_by_length: bool = True
    file_limits: list[int | None] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.paths, str):
            self.paths = [self.paths]
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 (or null for all pairs), got {self.limit}")
        if self.file_limits is not None:
            check_file_limits(self.paths, self.file_limits)


DEFAULT_ARGS: dict[str, Any] = {
    "output_dir": "outputs/llm2vec-gen", "learning_rate": 3e-4, "warmup_steps": 100, "logging_steps": 10,
    "save_steps": 500, "save_total_limit": 2, "seed": 0, "lr_scheduler_type": "linear", "report_to": [],
    "ddp_find_unused_parameters": False,
}  # fmt: skip
"""The ``args`` a recipe starts from (the paper's where they apply); its own ``args`` are laid over them."""

RUN_ARGS = {
    "per_device_train_batch_size": "batch_size (the global batch, split over devices and accumulation)",
    "max_steps": "max_steps and schedule_steps",
    "router_mapping": "nothing: the response column is always routed as decoder targets",
    "prompts": "data.query_prompt",
}
"""Training arguments the run sets itself, and the recipe setting to use instead."""


@dataclass
class TrainConfig:
    """Everything a training run needs; recipes in ``training/recipes`` are YAML files of these fields.

    Defaults are the paper's where they apply: lr 3e-4 (Qwen3), 100 warm-up steps, a global batch of 32, a linear
    schedule planned over 20,000 steps and stopped after 5,000, max length 512, both loss weights 1.0, 10 tokens.

    Attributes:
        model: The module's settings (:class:`LLM2VecGenConfig`).
        teacher: The teacher (:class:`TeacherSettings`); in YAML a name alone (``teacher: self``) works too.
        loss: :class:`LossSettings`.
        data: :class:`DataSettings`; in YAML a path or a list of paths alone works too.
        init_from: A saved LLM2Vec-Gen model or checkpoint whose head (compression tokens, R, A) the run starts from
            instead of a fresh one, e.g. to continue the shipped default on new data or with another objective; its
            backbone must match, and its ``num_tokens`` unless ``resize_tokens``. A fresh optimizer and schedule
            (``args.resume_from_checkpoint`` keeps them: a path, or ``true`` for the newest complete checkpoint in
            ``args.output_dir``).
        resize_tokens: With ``init_from``, start from a head saved with another number of compression tokens: its
            last ``min(N_saved, N)`` tokens are kept as this model's last ones, the others start fresh (R and A load
            as they are). For ablations of ``model.num_tokens``.
        fresh_alignment: With ``init_from``, start the alignment projection A fresh (its width the teacher's): for a
            teacher other than the one the head was trained against. The tokens and R load as saved.
        batch_size: Global batch size: split over devices and gradient accumulation, the same on 1 or 2 GPUs.
        max_steps: Optimizer steps to train.
        schedule_steps: Steps the linear decay is planned over (the paper: 20,000, stopped at 5,000); ``None``: decay
            to zero at ``max_steps``.
        dtype: Backbone weights, e.g. ``"bfloat16"`` on GPU; ``None``: the machine's default
            (:func:`~st_llm2vec_gen.models.backbones.default_dtype`: bfloat16 on a CPU with fast bf16 matrix products,
            the head and the loss staying float32; float32 elsewhere). ``args.bf16``: autocast.
        attn_implementation: The backbone's attention implementation (``None``: transformers' choice).
        overwrite_output_dir: Replace an earlier run in ``args.output_dir`` (otherwise refused).
        args: ``SentenceTransformerTrainingArguments`` as they are (``output_dir``, ``learning_rate``, ``seed``,
            ``bf16``, ``activation_checkpointing``, ...), laid over :data:`DEFAULT_ARGS`; not those in
            :data:`RUN_ARGS`.
    """

    model: LLM2VecGenConfig = field(default_factory=LLM2VecGenConfig)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    data: DataSettings = field(default_factory=DataSettings)
    init_from: str | None = None
    resize_tokens: bool = False
    fresh_alignment: bool = False
    batch_size: int = 32
    max_steps: int = 5000
    schedule_steps: int | None = 20000
    dtype: str | None = None
    attn_implementation: str | None = None
    overwrite_output_dir: bool = False
    args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.schedule_steps is not None and self.schedule_steps < self.max_steps:
            raise ValueError(f"schedule_steps ({self.schedule_steps}) must be at least max_steps ({self.max_steps})")
        for name in ("resize_tokens", "fresh_alignment"):
            if getattr(self, name) and not self.init_from:
                raise ValueError(f"{name} adapts the head named by init_from: set init_from, or drop {name}")
        if self.dtype is not None:
            check_dtype(self.dtype)  # a typo fails here, before any model loads
        self.args = {**DEFAULT_ARGS, **self.args}
        _check_args(self.args)

    @property
    def output_dir(self) -> str:
        """``args.output_dir``: checkpoints, ``final/``, ``log_history.json`` and the cached teacher labels."""
        return str(self.args["output_dir"])

    @property
    def seed(self) -> int:
        """``args.seed``: the head's initialisation and the batch order."""
        return int(self.args["seed"])

    @property
    def resume_from_checkpoint(self) -> str | bool | None:
        """``args.resume_from_checkpoint``: a checkpoint path, or ``true`` for the newest complete one."""
        return self.args.get("resume_from_checkpoint")

    @classmethod
    def from_yaml(cls, path: str, **overrides: Any) -> TrainConfig:
        """Reads a YAML recipe (and the recipes it ``extends``); unknown keys and wrongly typed values are an error
        naming the field. ``overrides`` are dotted paths (``args.seed``, ``model.num_tokens``)."""
        return cls.from_dict(_merge(read_recipe(path), _nested(overrides)), source=path)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "TrainConfig") -> TrainConfig:
        """Builds a config from nested values (dotted keys and the ``teacher: NAME``, ``data: PATHS`` shorthands)."""
        return build(cls, _nested(values), source)


def _check_args(args: dict[str, Any]) -> None:
    """Refuses unknown training arguments and those the run sets; parses numbers YAML 1.1 read as strings (``1e-3``)."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    hints = typing.get_type_hints(SentenceTransformerTrainingArguments)
    known = {f.name for f in dataclasses.fields(SentenceTransformerTrainingArguments)}
    if unknown := sorted(set(args) - known):
        raise ValueError(f"args: {unknown} are not SentenceTransformerTrainingArguments fields.")
    if owned := [f"{k} (use {RUN_ARGS[k]})" for k in args if k in RUN_ARGS]:
        raise ValueError(f"args: the run sets {', '.join(owned)}.")
    for key, value in args.items():
        if isinstance(value, str) and hints[key] in (int, float):
            args[key] = coerce(hints[key], value, f"args.{key}")


BLOCKS: dict[str, type] = {
    "model": LLM2VecGenConfig, "teacher": TeacherSettings, "loss": LossSettings, "data": DataSettings,
}  # fmt: skip
"""The recipe's blocks and the settings class each one builds (``args`` is checked by :func:`_check_args`)."""


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """Shorthand and dotted keys (``teacher: self``, ``data: file.jsonl``, ``args.seed``) in their blocks.

    Raises:
        ValueError: For a top-level key of the old flat recipe form, naming where it lives now.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        path = tuple(key.split("."))
        if len(path) == 1:
            _refuse_flat(key)
        if path == ("teacher",) and isinstance(value, str):
            value = {"name": value}
        if path == ("data",) and isinstance(value, (str, list)):
            value = {"paths": [value] if isinstance(value, str) else value}
        out = _merge(out, _at(path, value))
    return out


def _refuse_flat(key: str) -> None:
    """Refuses a top-level key that belongs in a block (the flat recipes written before the blocks existed)."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    if key in {f.name for f in dataclasses.fields(TrainConfig)}:
        return
    place = "args" if key == "extra_args" else None
    for block, settings in BLOCKS.items():
        names = {f.name for f in dataclasses.fields(settings)}
        name = key.removeprefix("teacher_") if block == "teacher" else key
        if name in names:
            place = f"{block}.{name}"
    if place is None and key in {f.name for f in dataclasses.fields(SentenceTransformerTrainingArguments)}:
        place = f"args.{key}"
    if place is not None:
        raise ValueError(
            f"`{key}` is a key of the old flat recipe form: write it as `{place}` (under a `{place.split('.')[0]}:` "
            "block). See training/recipes/qwen3-8b.yaml for the form."
        )


def _at(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``: mappings merge key by key, anything else is replaced; a ``teacher`` of another
    name replaces the base's whole teacher (its options belong to the teacher they were written for)."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict) and not _other_teacher(key, below, value):
            merged[key] = _merge(below, value)
        else:
            merged[key] = value
    return merged


def _other_teacher(key: str, base: dict[str, Any], over: dict[str, Any]) -> bool:
    return key == "teacher" and "name" in over and over["name"] != base.get("name")


def read_recipe(path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe's values in nested form, with the recipes it ``extends`` laid under it.

    Raises:
        ValueError: For invalid YAML, a file that is not a mapping, or a cycle of ``extends``.
    """
    import yaml

    path = Path(path).resolve()
    if path in seen:
        raise ValueError(f"{path}: recipes extend each other in a circle ({' -> '.join(p.name for p in seen)})")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of settings, found {type(values).__name__}")
    base = values.pop("extends", None)
    own = _nested(values)
    return _merge(read_recipe(path.parent / base, (*seen, path)), own) if base else own
