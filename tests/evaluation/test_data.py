"""Readers of the bundled evaluation data: formats, seeded subsamples, and clear errors for missing files."""

from __future__ import annotations

from collections import Counter

import pytest
from evaluation_data import data_dir  # noqa: F401  (fixture)

from st_llm2vec_gen.evaluation import data
from st_llm2vec_gen.evaluation.data import SuiteSizes


def test_stsb_reads_score_and_both_sentences(data_dir):
    rows = data.read_stsb(data_dir, None, 0)
    assert len(rows["score"]) == 12 and rows["score"][1] == 1.0
    assert rows["sentence1"][1] == "A text about the capital of France." and rows["sentence2"][1].endswith(", 1.")


def test_subsamples_are_seeded_and_sized(data_dir):
    assert data.read_stsb(data_dir, 5, 3) == data.read_stsb(data_dir, 5, 3)
    assert data.read_stsb(data_dir, 5, 3) != data.read_stsb(data_dir, 5, 4)
    texts, labels = data.read_banking77(data_dir, "train")
    train = data.classification_split(texts, labels, 2, None, 0, train=True)
    assert Counter(train["label"]) == {0: 2, 1: 2, 2: 2}
    assert len(data.classification_split(texts, labels, None, 7, 0, train=False)["text"]) == 7


def test_scifact_keeps_every_relevant_abstract_plus_distractors(data_dir):
    sets = data.read_scifact(data_dir, 3, 4, seed=0)
    assert len(sets["queries"]) == 3 and set(sets["qrels"]) == set(sets["queries"])
    relevant = {doc for rel in sets["qrels"].values() for doc in rel}
    assert relevant <= set(sets["corpus"]) and len(sets["corpus"]) == len(relevant) + 4


def test_advbench_marks_every_harmful_chunk_relevant(data_dir):
    sizes = SuiteSizes(advbench_queries=5, advbench_harmful=4, advbench_benign=6)
    sets = data.read_advbench_ir(data_dir, sizes)
    harmful = {doc for doc in sets["corpus"] if doc.startswith("harmful-")}
    assert len(sets["queries"]) == 5 and len(harmful) == 4 and len(sets["corpus"]) == 10
    assert all(set(rel) == harmful for rel in sets["qrels"].values())
    benign = [d["text"] for doc, d in sets["corpus"].items() if doc.startswith("benign-")]
    assert sum(t.startswith("Abstract") for t in benign) == 3 and sum(t.startswith("A helpful") for t in benign) == 3


def test_missing_file_names_the_file_and_the_option(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sts-test\.csv.*--data-dir"):
        data.read_stsb(tmp_path, None, 0)
