"""Training an LLM2Vec-Gen head with SentenceTransformerTrainer from query/response pairs and a teacher."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .factory import create_model
from .losses import LLM2VecGenLoss
from .model_card import use_model_card
from .models.backbones import EMBEDDED_BACKBONE
from .queries import read_records
from .teachers import check_teacher_dim, load_teacher

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a training run needs; recipes in ``training/recipes`` are YAML files of these fields.

    Defaults are the paper's where they apply (lr 3e-4 for Qwen3, linear schedule, 100 warm-up steps, batch 32,
    5,000 steps, max length 512 for queries and responses, both loss weights 1.0, 10 tokens).
    """

    data: str = "training/data/responses.jsonl"
    output_dir: str = "outputs/llm2vec-gen"
    backbone: str = EMBEDDED_BACKBONE
    teacher: str = "self"
    teacher_prompt: str | None = None
    num_tokens: int = 10
    max_seq_length: int = 512
    learning_rate: float = 3e-4
    warmup_steps: int = 100
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    max_steps: int = 5000
    alignment_weight: float = 1.0
    reconstruction_weight: float = 1.0
    dtype: str | None = None  # backbone weights, e.g. "bfloat16" on GPU
    bf16: bool = False  # autocast
    activation_checkpointing: bool = False
    attn_implementation: str | None = None
    limit: int | None = None  # use only the first N pairs
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2
    seed: int = 0
    resume_from_checkpoint: str | bool | None = None
    extra_args: dict[str, Any] = field(default_factory=dict)  # any other SentenceTransformerTrainingArguments

    @classmethod
    def from_yaml(cls, path: str, **overrides: Any) -> TrainConfig:
        """Reads a YAML recipe; unknown keys are an error, so a typo never silently falls back to a default."""
        import yaml

        with open(path, encoding="utf-8") as f:
            values = {**(yaml.safe_load(f) or {}), **overrides}
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := set(values) - known:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)


def load_pairs(path: str, limit: int | None = None) -> dict[str, list[str]]:
    """Reads query/response pairs, refusing missing or empty fields before any model is loaded.

    Raises:
        ValueError: If the ``query`` or ``response`` column is missing, or any row has an empty one.
    """
    rows = read_records(path)[:limit]
    if not rows:
        raise ValueError(f"{path} holds no query/response pairs")
    for column in ("query", "response"):
        bad = [i for i, row in enumerate(rows) if not isinstance(row.get(column), str)]
        if column == "query":
            bad += [i for i, row in enumerate(rows) if isinstance(row.get(column), str) and not row[column].strip()]
        if bad:
            raise ValueError(
                f"{path}: {len(bad)} row(s) lack a non-empty {column!r} field (e.g. rows {sorted(bad)[:5]}); "
                "training needs 'query' and 'response' columns."
            )
    kept = [row for row in rows if row["response"].strip()]
    if len(kept) < len(rows):  # the LLM answered with nothing at all: no target to reconstruct or align with
        logger.warning("Skipping %d pair(s) of %s with an empty response", len(rows) - len(kept), path)
    if not kept:
        raise ValueError(f"{path}: every response is empty")
    return {"query": [r["query"] for r in kept], "response": [r["response"] for r in kept]}


def train(config: TrainConfig):
    """Runs a training job and saves the final model to ``config.output_dir/final``.

    Returns:
        The trained SentenceTransformer.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    pairs = load_pairs(config.data, config.limit)  # fail fast on bad data
    backbone_settings = {"dtype": config.dtype, "attn_implementation": config.attn_implementation}
    model_kwargs = {k: v for k, v in backbone_settings.items() if v}
    teacher = None if config.teacher == "self" else load_teacher(config.teacher, prompt=config.teacher_prompt)
    model = create_model(
        config.backbone,
        num_tokens=config.num_tokens,
        embedding_dim=teacher.dim if teacher else None,
        max_seq_length=config.max_seq_length,
        model_kwargs=model_kwargs,
        seed=config.seed,
    )
    module = model[0]
    teacher = teacher or load_teacher("self", module)
    check_teacher_dim(teacher, module)
    logger.info("Teacher %s: embedding %d responses", config.teacher, len(pairs["response"]))
    labels = teacher.encode(pairs["response"], batch_size=config.batch_size, show_progress=True)
    del teacher
    dataset = Dataset.from_dict({**pairs, "label": labels.numpy()})  # numpy: no per-float Python objects

    args = SentenceTransformerTrainingArguments(
        output_dir=config.output_dir,
        router_mapping={"response": "response"},
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_steps=config.max_steps,
        bf16=config.bf16,
        activation_checkpointing=config.activation_checkpointing,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        report_to=[],
        ddp_find_unused_parameters=False,
        **config.extra_args,
    )
    loss = LLM2VecGenLoss(model, config.alignment_weight, config.reconstruction_weight)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    training_data = f"{len(pairs['response'])} query/response pairs from `{config.data}`, teacher `{config.teacher}`."
    use_model_card(model, recipe=dataclasses.asdict(config), training_data=training_data)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    if trainer.is_world_process_zero():
        model.save(os.path.join(config.output_dir, "final"))
        with open(os.path.join(config.output_dir, "log_history.json"), "w", encoding="utf-8") as f:
            json.dump(trainer.state.log_history, f, indent=1)
    return model
