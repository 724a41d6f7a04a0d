"""The teacher's embeddings of the training texts, computed once and kept beside a run's checkpoints.

They are stored per text: ``teacher-labels-<hash of the teacher's settings>.npz`` in ``output_dir`` holds the
embeddings and the SHA-256 of each text they embed, so a resumed run, another rank, or a run given a copy of
another run's file (more data, another limit, the query side of the target) embeds only the texts it lacks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.atomic_files import atomic_write
from .teachers import Teacher, TeacherSettings

logger = logging.getLogger(__name__)

SAVE_EVERY = 2048  # new texts embedded between two writes of the store


@dataclass(frozen=True)
class LabelStore:
    """A run's store of teacher labels: the folder it lives in and what decides which embeddings it may hold.

    Attributes:
        folder: The run's ``output_dir``.
        teacher: The teacher's settings (two teachers never share a store).
        max_seq_length: The student's token budget per text (``TrainConfig.model.max_seq_length``).
    """

    folder: Path
    teacher: TeacherSettings
    max_seq_length: int

    @property
    def path(self) -> Path:
        """The store's file, named after the teacher's settings and the token budget."""
        teacher = self.teacher
        settings = [teacher.name, teacher.prompt, teacher.normalized, teacher.kwargs, self.max_seq_length]
        key = hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]
        return Path(self.folder) / f"teacher-labels-{key}.npz"


def teacher_labels(
    store: LabelStore, teacher: Teacher, texts: list[str], batch_size: int = 16, chunk_size: int = SAVE_EVERY
) -> np.ndarray:
    """The teacher's embeddings of ``texts`` (N, D) float32, in order; only texts not yet in the store are embedded.

    The store is written after every ``chunk_size`` new texts, so an interrupted run keeps what it embedded.

    Args:
        store: Where the labels are kept, and for which teacher settings.
        teacher: The teacher ``store.teacher`` describes, built.
        texts: The texts to embed.
        batch_size: Texts per teacher forward pass.
        chunk_size: New texts embedded between two writes of the store.

    Raises:
        ValueError: If the teacher returns NaN or infinite values, or the store is corrupt.
    """
    path, name = store.path, store.teacher.name
    digests = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
    known, stored = _read(path)
    missing = list(dict.fromkeys(d for d in digests if d not in known))  # first appearance, once each
    if missing:
        logger.info("Teacher %s: embedding %d of %d texts", name, len(missing), len(texts))
    text_of = dict(zip(digests, texts))
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        new = teacher.encode([text_of[d] for d in chunk], batch_size=batch_size, show_progress=True).numpy()
        if not np.isfinite(new).all():
            raise ValueError(f"The teacher {name!r} returned NaN or infinite embeddings: training would diverge.")
        known = {**known, **{d: len(known) + i for i, d in enumerate(chunk)}}
        stored = new if stored is None else np.concatenate([stored, new.astype(stored.dtype)])  # (rows, D)
        _write(path, list(known), stored)
    return stored[[known[d] for d in digests]]


def _read(path: Path) -> tuple[dict[str, int], np.ndarray | None]:
    """``({digest: row}, labels)`` of a store, or an empty store when there is no file."""
    if not path.is_file():
        return {}, None
    try:
        with np.load(path, allow_pickle=False) as data:
            digests, labels = data["digests"].tolist(), data["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"The teacher-label store {path} is corrupt ({error}); delete it to recompute.") from error
    if len(digests) != len(labels):
        raise ValueError(
            f"The teacher-label store {path} is corrupt (rows and digests differ); delete it to recompute."
        )
    return {d: i for i, d in enumerate(digests)}, labels


def _write(path: Path, digests: list[str], labels: np.ndarray) -> None:
    """Writes the store through a temporary file renamed into place."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path without it
            np.savez(f, digests=np.array(digests), labels=labels)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save)
