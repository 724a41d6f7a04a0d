"""The teacher's embeddings of the training texts, computed once per run and kept beside its checkpoints."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..corpus import save_npy
from .config import TrainConfig
from .teachers import Teacher

logger = logging.getLogger(__name__)


def teacher_labels(config: TrainConfig, teacher: Teacher, responses: list[str]) -> np.ndarray:
    """The teacher's embeddings of the responses (N, D) float32, computed once and kept in ``output_dir``.

    The file is keyed by the teacher, its settings and the responses, so a resumed run or another rank reuses it and
    a changed run recomputes it.
    """
    key = hashlib.sha256(
        json.dumps([config.teacher.name, config.teacher.prompt, config.teacher.normalized, config.teacher.kwargs,
                    config.model.max_seq_length, responses], default=str).encode()
    ).hexdigest()[:16]  # fmt: skip
    path = Path(config.output_dir) / f"teacher-labels-{key}.npy"
    if path.is_file():
        labels = np.load(path)
        if labels.shape[0] == len(responses):
            return labels
    logger.info("Teacher %s: embedding %d texts", config.teacher.name, len(responses))
    labels = teacher.encode(responses, batch_size=config.batch_size, show_progress=True).numpy()
    if not np.isfinite(labels).all():
        raise ValueError(
            f"The teacher {config.teacher.name!r} returned NaN or infinite embeddings: training would diverge."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy(path, labels)
    return labels
