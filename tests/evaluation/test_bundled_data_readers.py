"""Readers of the suite's data on a miniature copy: formats, seeded subsamples, the benign corpus, clear errors."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter

import pytest

from st_llm2vec_gen.evaluation import bundled_data
from st_llm2vec_gen.evaluation.bundled_data import SuiteSizes


def test_stsb_reads_score_and_both_sentences(data_dir):
    rows = bundled_data.read_stsb(data_dir, None, 0)
    assert len(rows["score"]) == 12 and rows["score"][1] == 1.0
    assert rows["sentence1"][1] == "A text about the capital of France." and rows["sentence2"][1].endswith(", 1.")


def test_subsamples_are_seeded_and_sized(data_dir):
    assert bundled_data.read_stsb(data_dir, 5, 3) == bundled_data.read_stsb(data_dir, 5, 3)
    assert bundled_data.read_stsb(data_dir, 5, 3) != bundled_data.read_stsb(data_dir, 5, 4)
    texts, labels = bundled_data.read_banking77(data_dir, "train")
    train = bundled_data.classification_split(texts, labels, 2, None, 0, train=True)
    assert Counter(train["label"]) == {0: 2, 1: 2, 2: 2}
    assert len(bundled_data.classification_split(texts, labels, None, 7, 0, train=False)["text"]) == 7


def test_scifact_keeps_every_relevant_abstract_plus_distractors(data_dir):
    sets = bundled_data.read_scifact(data_dir, 3, 4, seed=0)
    assert len(sets["queries"]) == 3 and set(sets["qrels"]) == set(sets["queries"])
    relevant = {doc for rel in sets["qrels"].values() for doc in rel}
    assert relevant <= set(sets["corpus"]) and len(sets["corpus"]) == len(relevant) + 4


def test_advbench_marks_every_harmful_chunk_relevant(data_dir):
    sizes = SuiteSizes(advbench_queries=5, advbench_harmful=4, advbench_benign=6)
    sets = bundled_data.read_advbench_ir(data_dir, sizes)
    harmful = {doc for doc in sets["corpus"] if doc.startswith("harmful-")}
    assert len(sets["queries"]) == 5 and len(harmful) == 4 and len(sets["corpus"]) == 10
    assert all(set(rel) == harmful for rel in sets["qrels"].values())
    benign = [d for doc, d in sets["corpus"].items() if doc.startswith("benign-")]
    assert len(benign) == 6 and all(d["title"].startswith("Article ") for d in benign)


def test_benign_passages_are_chunks_of_the_first_eight_squad_articles_only(data_dir):
    passages = bundled_data.read_squad_passages(data_dir)
    assert len(passages) == 8 * 3  # per article: 130 words -> 100 + 30; 110 -> 100 (10-word stub dropped); 8 -> none
    assert {p["title"] for p in passages} == {f"Article {i}" for i in range(8)}
    assert sorted({len(p["text"].split()) for p in passages}) == [30, 100]
    everything = bundled_data.read_advbench_ir(data_dir, SuiteSizes(advbench_benign=1000))["corpus"]
    benign = [d for doc, d in everything.items() if doc.startswith("benign-")]
    assert len(benign) == 24 and not any("reserved" in d["title"].lower() + d["text"] for d in benign)


def test_gzipped_files_read_like_plain_ones(data_dir, tmp_path):
    shutil.copytree(data_dir / "stsb", tmp_path / "stsb")
    plain = tmp_path / "stsb" / "sts-test.csv"
    (tmp_path / "stsb" / "sts-test.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    assert bundled_data.read_stsb(tmp_path, None, 0) == bundled_data.read_stsb(data_dir, None, 0)


def test_missing_file_names_the_file_and_the_option(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sts-test\.csv \(nor sts-test\.csv\.gz\).*--data-dir"):
        bundled_data.read_stsb(tmp_path, None, 0)
