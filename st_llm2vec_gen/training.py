"""Training an LLM2Vec-Gen head with SentenceTransformerTrainer from query/response pairs and a teacher."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers import TrainerCallback

from .corpus import save_npy
from .data import load_pairs
from .factory import create_model
from .losses import LLM2VecGenLoss
from .model_card import use_model_card
from .models.backbones import check_dtype
from .models.config import LLM2VecGenConfig
from .models.saved_format import check_writable, write_json
from .sampler import LengthGroupedBatchSampler
from .settings import build
from .teachers import Teacher, check_teacher_dim, load_teacher

logger = logging.getLogger(__name__)


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
            :class:`~st_llm2vec_gen.teachers.SelfTeacher`); for a sentence-transformers teacher, arguments of
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


def train(config: TrainConfig):
    """Runs a training job and saves the final model to ``config.output_dir/final``.

    Returns:
        The trained SentenceTransformer.

    Raises:
        ValueError: For bad data, or an earlier run in ``output_dir`` that would be replaced.
    """
    from datasets import Dataset

    from .trainer import LLM2VecGenTrainer

    _check_output_dir(config)
    pairs = load_pairs(config.data, config.limit)  # fail fast on bad data
    resume = resume_point(config)
    teacher = None if config.teacher == "self" else _sentence_transformer_teacher(config)
    model = create_model(**_module_kwargs(config, teacher.dim if teacher else None))
    module = model[0]
    if config.init_from:
        module.load_head(config.init_from)
        logger.info("Starting from the head of %s", config.init_from)
    teacher = teacher or load_teacher("self", module, **config.teacher_kwargs)
    module.trained_with = training_teacher(config)  # saved with the head: evaluation compares with this teacher
    check_teacher_dim(teacher, module)
    args = training_arguments(config)
    with args.main_process_first(desc="teacher labels"):  # rank 0 embeds; the others read its file
        labels = teacher_labels(config, teacher, pairs["response"])
        if config.query_target_weight:
            weight = config.query_target_weight
            labels = (1 - weight) * labels + weight * teacher_labels(config, teacher, pairs["query"])
    del teacher
    if any(pairs["truncated"]):  # one more label column: the cut responses' EOS is no target (LLM2VecGenLoss)
        labels = np.concatenate([labels, np.asarray(pairs["truncated"], dtype=labels.dtype)[:, None]], axis=1)
    queries = with_prompt(pairs["query"], config.query_prompt, model.prompts.values())
    dataset = Dataset.from_dict({"query": queries, "response": pairs["response"], "label": labels})
    loss = LLM2VecGenLoss(
        model, config.alignment_weight, config.reconstruction_weight, config.contrastive_weight, config.temperature
    )
    trainer = LLM2VecGenTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, callbacks=[StopAtStep(config.max_steps)]
    )
    training_data = f"{len(pairs['response'])} query/response pairs from `{config.data}`, teacher `{config.teacher}`."
    use_model_card(model, recipe=dataclasses.asdict(config), training_data=training_data)
    trainer.train(resume_from_checkpoint=resume)
    # bf16/fp16 training wraps forward in autocast; drop it, so the returned model embeds as the saved one will
    trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if trainer.is_world_process_zero():
        model.save(os.path.join(config.output_dir, "final"))
        write_json(os.path.join(config.output_dir, "log_history.json"), trainer.state.log_history)
    return model


def training_teacher(config: TrainConfig) -> dict[str, Any]:
    """The teacher settings a trained head records (``LLM2VecGenConfig.trained_with``)."""
    return {
        "teacher": config.teacher,
        "teacher_kwargs": config.teacher_kwargs,
        "teacher_prompt": config.teacher_prompt,
        "teacher_normalized": config.teacher_normalized,
    }


def with_prompt(queries: list[str], prompt: str | None, known: Iterable[str]) -> list[str]:
    """Each query with ``prompt`` before it, joined as ``LLM2VecGen.preprocess`` joins ST prompts, unless it already
    starts with one of the ``known`` prompts."""
    if not prompt:
        return queries
    known = tuple(p for p in known if p)
    sep = "" if prompt[-1].isspace() else " "
    return [q if q.startswith(known) else prompt + sep + q for q in queries]


def _check_output_dir(config: TrainConfig) -> None:
    """Refuses to mix a new run into an earlier one's ``final/`` and checkpoints without being asked."""
    out = Path(config.output_dir)
    earlier = [p.name for p in out.glob("checkpoint-*")] + [p.name for p in out.glob("final")]
    if earlier and not (config.overwrite_output_dir or config.resume_from_checkpoint):
        raise ValueError(
            f"{out} already holds a training run ({', '.join(sorted(earlier)[:3])}): set resume_from_checkpoint "
            "to continue it, overwrite_output_dir: true to replace it, or choose another output_dir."
        )
    check_writable(out, "output_dir")  # read-only or missing parent: fail before any model loads


CHECKPOINT_STATE = "trainer_state.json"  # written last into a checkpoint: its presence marks a complete one


def resume_point(config: TrainConfig) -> str | None:
    """The checkpoint to resume from: ``resume_from_checkpoint`` as given, or for ``true`` the newest *complete*
    ``checkpoint-N`` in ``output_dir`` (a run killed while saving leaves an incomplete one, which is skipped).

    ``true`` with no complete checkpoint starts from the beginning, with a warning.

    Raises:
        FileNotFoundError: If a given checkpoint path does not exist.
    """
    wanted = config.resume_from_checkpoint
    if wanted in (None, False):
        return None
    if isinstance(wanted, str):
        if not (Path(wanted) / CHECKPOINT_STATE).is_file():
            message = f"resume_from_checkpoint {wanted} is not a complete checkpoint (no {CHECKPOINT_STATE})"
            raise FileNotFoundError(message)
        return wanted
    found = sorted((p for p in Path(config.output_dir).glob("checkpoint-*") if _step(p) is not None), key=_step)
    complete = [p for p in found if (p / CHECKPOINT_STATE).is_file()]
    if not complete:
        logger.warning("No complete checkpoint in %s: training starts from the beginning", config.output_dir)
        return None
    if skipped := [p.name for p in found if _step(p) > _step(complete[-1])]:
        logger.warning("Skipping incomplete checkpoint(s) %s (interrupted while saving)", skipped)
    return str(complete[-1])


def _step(checkpoint: Path) -> int | None:
    """N of a ``checkpoint-N`` folder, or None for another name."""
    number = checkpoint.name.removeprefix("checkpoint-")
    return int(number) if number.isdigit() and checkpoint.is_dir() else None


def _module_kwargs(config: TrainConfig, teacher_dim: int | None) -> dict[str, Any]:
    """``create_model`` arguments: the module's settings, the teacher's dimension, backbone loading options."""
    module = dataclasses.asdict(config.model)
    if teacher_dim is not None and module["embedding_dim"] not in (None, teacher_dim):
        raise ValueError(
            f"model.embedding_dim is {module['embedding_dim']} but the teacher embeds into {teacher_dim} dimensions."
        )
    module["embedding_dim"] = module["embedding_dim"] or teacher_dim
    backbone_settings = {"dtype": config.dtype, "attn_implementation": config.attn_implementation}
    return {**module, "model_kwargs": {k: v for k, v in backbone_settings.items() if v}, "seed": config.seed}


def _sentence_transformer_teacher(config: TrainConfig) -> Teacher:
    return load_teacher(
        config.teacher, prompt=config.teacher_prompt, normalized=config.teacher_normalized, **config.teacher_kwargs
    )


def teacher_labels(config: TrainConfig, teacher: Teacher, responses: list[str]) -> np.ndarray:
    """The teacher's embeddings of the responses (N, D) float32, computed once and kept in ``output_dir``.

    The file is keyed by the teacher, its settings and the responses, so a resumed run or another rank reuses it and
    a changed run recomputes it.
    """
    key = hashlib.sha256(
        json.dumps([config.teacher, config.teacher_prompt, config.teacher_normalized, config.teacher_kwargs,
                    config.model.max_seq_length, responses], default=str).encode()
    ).hexdigest()[:16]  # fmt: skip
    path = Path(config.output_dir) / f"teacher-labels-{key}.npy"
    if path.is_file():
        labels = np.load(path)
        if labels.shape[0] == len(responses):
            return labels
    logger.info("Teacher %s: embedding %d responses", config.teacher, len(responses))
    labels = teacher.encode(responses, batch_size=config.batch_size, show_progress=True).numpy()
    if not np.isfinite(labels).all():
        raise ValueError(f"The teacher {config.teacher!r} returned NaN or infinite embeddings: training would diverge.")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy(path, labels)
    return labels


def training_arguments(config: TrainConfig) -> Any:
    """ST training arguments: the global batch split over devices, the schedule planned over ``schedule_steps``."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    devices = int(os.environ.get("WORLD_SIZE", "1"))
    per_device = per_device_batch_size(config.batch_size, devices, config.gradient_accumulation_steps)
    return SentenceTransformerTrainingArguments(
        output_dir=config.output_dir,
        router_mapping={"response": "response"},
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_steps=config.schedule_steps or config.max_steps,  # StopAtStep ends the run at max_steps
        bf16=config.bf16,
        activation_checkpointing=config.activation_checkpointing,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        report_to=[],
        ddp_find_unused_parameters=False,
        **({"batch_sampler": LengthGroupedBatchSampler} if config.group_by_length else {}),
        **config.extra_args,
    )


def per_device_batch_size(batch_size: int, devices: int, accumulation: int) -> int:
    """The global ``batch_size`` split over ``devices`` and ``accumulation`` steps.

    Raises:
        ValueError: If it does not divide evenly.
    """
    per_device, rest = divmod(batch_size, devices * accumulation)
    if rest or not per_device:
        raise ValueError(
            f"batch_size {batch_size} (global) must be a multiple of devices ({devices}) x "
            f"gradient_accumulation_steps ({accumulation})."
        )
    return per_device


class StopAtStep(TrainerCallback):
    """Ends training after ``step`` optimizer steps, with a checkpoint, whatever the schedule's length."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step >= self.step:
            control.should_training_stop = True
            control.should_save = True
        return control
