"""``train``: an LLM2Vec-Gen head trained with sentence-transformers' trainer from query/response pairs."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..factory import create_model
from ..io.records import load_pairs
from ..losses import LLM2VecGenLoss
from ..model_card import use_model_card
from ..models.atomic_files import check_writable, write_json
from ..models.locations import looks_like_path
from .config import TrainConfig
from .dataset import training_dataset
from .labels import LabelStore, teacher_labels
from .sampler import LengthGroupedBatchSampler
from .teachers import check_teacher_dim
from .trainer import LLM2VecGenTrainer

logger = logging.getLogger(__name__)


def _check_init_from(init_from: str | None) -> None:
    """Refuses a local ``init_from`` that is not there, before anything loads, saying how to restore a pruned head."""
    if init_from and looks_like_path(init_from) and not os.path.exists(init_from):
        head = init_from.removesuffix("/").removesuffix("/final")
        raise FileNotFoundError(
            f"init_from {init_from} does not exist. A committed head of an earlier stage that was pruned from the "
            f"tree comes back from git: `git log --oneline --diff-filter=D -1 -- {head}` names the commit that "
            f"removed it, `git checkout <commit>^ -- {head}` restores it."
        )


def train(config: TrainConfig):
    """Runs a training job and saves the final model to ``config.output_dir/final``.

    Returns:
        The trained SentenceTransformer.

    Raises:
        ValueError: For bad data, or an earlier run in ``output_dir`` that would be replaced.
    """
    _check_output_dir(config)
    _check_init_from(config.init_from)
    pairs = load_pairs(config.data.paths, config.data.limit, config.data.file_limits)  # fail fast on bad data
    resume = resume_point(config)
    teacher = None if config.teacher.is_self else config.teacher.build_teacher()
    model = create_model(**_module_kwargs(config, teacher.dim if teacher else None))
    module = model[0]
    if config.init_from:
        module.load_head(config.init_from, resize_tokens=config.resize_tokens, fresh_alignment=config.fresh_alignment)
        logger.info("Starting from the head of %s", config.init_from)
    teacher = teacher or config.teacher.build_teacher(module)
    module.trained_with = config.teacher.record()  # saved with the head: evaluation compares with this teacher
    check_teacher_dim(teacher, module)
    args = training_arguments(config)
    with args.main_process_first(desc="teacher labels"):  # rank 0 embeds; the others read its file
        store = label_store(config)
        labels = teacher_labels(store, teacher, pairs.responses, config.batch_size)
        if weight := config.loss.query_target_weight:
            labels = (1 - weight) * labels + weight * teacher_labels(store, teacher, pairs.queries, config.batch_size)
    del teacher
    dataset, args.prompts = training_dataset(pairs, labels, config.data.query_prompt, model.prompts)
    losses = {k: v for k, v in dataclasses.asdict(config.loss).items() if k != "query_target_weight"}
    trainer = LLM2VecGenTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=LLM2VecGenLoss(model, **losses),
        callbacks=[StopAtStep(config.max_steps)],
    )
    training_data = f"{len(pairs)} query/response pairs from `{config.data.paths}`, teacher `{config.teacher.name}`."
    use_model_card(model, recipe=dataclasses.asdict(config), training_data=training_data)
    trainer.train(resume_from_checkpoint=resume)
    # bf16/fp16 training wraps forward in autocast; drop it, so the returned model embeds as the saved one will
    trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if trainer.is_world_process_zero():
        model.save(os.path.join(config.output_dir, "final"))
        write_json(os.path.join(config.output_dir, "log_history.json"), trainer.state.log_history)
    return model


def label_store(config: TrainConfig) -> LabelStore:
    """The run's teacher-label store: in ``output_dir``, for the configured teacher and token budget."""
    return LabelStore(Path(config.output_dir), config.teacher, config.model.max_seq_length)


def _check_output_dir(config: TrainConfig) -> None:
    """Refuses to mix a new run into an earlier one's ``final/`` and checkpoints without being asked."""
    out = Path(config.output_dir)
    earlier = [p.name for p in out.glob("checkpoint-*")] + [p.name for p in out.glob("final")]
    if earlier and not (config.overwrite_output_dir or config.resume_from_checkpoint):
        raise ValueError(
            f"{out} already holds a training run ({', '.join(sorted(earlier)[:3])}): set args.resume_from_checkpoint "
            "to continue it, overwrite_output_dir: true to replace it, or choose another args.output_dir."
        )
    check_writable(out, "output_dir")  # read-only or missing parent: fail before any model loads


CHECKPOINT_STATE = "trainer_state.json"  # written last into a checkpoint: its presence marks a complete one


def resume_point(config: TrainConfig) -> str | None:
    """The checkpoint to resume from: ``args.resume_from_checkpoint`` as given, or for ``true`` the newest *complete*
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


def training_arguments(config: TrainConfig) -> Any:
    """``config.args`` as ST training arguments, plus what the run sets: the global batch split over devices, the
    schedule planned over ``schedule_steps``, the response column routed as decoder targets. ``train()`` sets the
    query ``prompts`` once the dataset is built (:func:`~.dataset.training_dataset`)."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    args = {k: v for k, v in config.args.items() if k != "resume_from_checkpoint"}  # handed to train() instead
    devices = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = int(args.get("gradient_accumulation_steps", 1))
    return SentenceTransformerTrainingArguments(
        **args,
        per_device_train_batch_size=per_device_batch_size(config.batch_size, devices, accumulation),
        max_steps=config.schedule_steps or config.max_steps,  # StopAtStep ends the run at max_steps
        router_mapping={"response": "response"},
        **({"batch_sampler": LengthGroupedBatchSampler} if config.data.group_by_length else {}),
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
