"""The per-text teacher-label store: each text is embedded once, in any later run that shares the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from st_llm2vec_gen.training.config import TrainConfig
from st_llm2vec_gen.training.labels import LabelStore, teacher_labels
from st_llm2vec_gen.training.run import label_store
from st_llm2vec_gen.training.teachers import TeacherSettings


class CountingTeacher:
    """Embeds a text as (its length, its first character's code point); records every text it is asked for."""

    dim = 2

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor:
        self.seen += texts
        return torch.tensor([[len(t), ord(t[0])] for t in texts], dtype=torch.float32)


def _store(tmp_path, **teacher) -> LabelStore:
    """The store ``train()`` uses for a run in ``tmp_path`` with these teacher settings."""
    return label_store(TrainConfig(args={"output_dir": str(tmp_path)}, teacher=TeacherSettings(**teacher)))


def _expected(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def test_only_new_texts_are_embedded_and_rows_follow_the_order_asked(tmp_path):
    store, teacher = _store(tmp_path), CountingTeacher()
    np.testing.assert_array_equal(teacher_labels(store, teacher, ["aa", "b", "aa"]), _expected(["aa", "b", "aa"]))
    assert teacher.seen == ["aa", "b"]  # a repeated text is embedded once

    later = ["ccc", "b", "dddd", "aa"]  # a later run: more data, another order
    np.testing.assert_array_equal(teacher_labels(store, teacher, later), _expected(later))
    assert teacher.seen == ["aa", "b", "ccc", "dddd"]
    np.testing.assert_array_equal(teacher_labels(store, CountingTeacher(), later), _expected(later))  # all stored
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]  # no temporary file left


def test_another_teacher_setting_gets_its_own_store(tmp_path):
    teacher = CountingTeacher()
    teacher_labels(_store(tmp_path), teacher, ["aa"])
    teacher_labels(_store(tmp_path, kwargs={"style": "summary"}), teacher, ["aa"])
    assert teacher.seen == ["aa", "aa"] and len(list(tmp_path.glob("teacher-labels-*.npz"))) == 2


def test_a_corrupt_store_is_refused_with_a_fix(tmp_path):
    store = _store(tmp_path)
    store.path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="corrupt.*delete it to recompute"):
        teacher_labels(store, CountingTeacher(), ["aa"])


class FailingTeacher(CountingTeacher):
    """Fails on its second call, as a run killed mid-way would."""

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> torch.Tensor:
        if self.seen:
            raise KeyboardInterrupt
        return super().encode(texts, batch_size, show_progress)


def test_an_interrupted_run_keeps_the_chunks_it_embedded(tmp_path):
    store, texts = _store(tmp_path), ["aa", "b", "ccc", "dddd", "e"]
    with pytest.raises(KeyboardInterrupt):
        teacher_labels(store, FailingTeacher(), texts, chunk_size=2)
    rerun = CountingTeacher()
    np.testing.assert_array_equal(teacher_labels(store, rerun, texts, chunk_size=2), _expected(texts))
    assert rerun.seen == ["ccc", "dddd", "e"]  # the first chunk was stored before the interruption


def test_the_store_keeps_its_name_so_earlier_runs_reuse_their_labels():
    """The file name hashes exactly the teacher settings and the token budget, as before stores were typed."""
    import hashlib
    import json

    store = LabelStore(Path("run"), TeacherSettings("self", {"layer": 3}), 128)
    key = hashlib.sha256(json.dumps(["self", None, True, {"layer": 3}, 128]).encode()).hexdigest()[:16]
    assert store.path == Path("run") / f"teacher-labels-{key}.npz"
