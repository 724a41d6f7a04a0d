"""Fixtures for tests/evaluation: a miniature copy of the suite's data in the real files' formats, and a tiny chat
model to evaluate. The real, bundled data is tested in test_bundled_data.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

TOPICS = ["polar bears and sea ice", "the capital of France", "photosynthesis in plants", "the printing press"]
SQUAD_ARTICLES = [f"Article_{i}" for i in range(8)] + ["Reserved_8", "Reserved_9"]
"""Titles of the miniature SQuAD file: the last two stand for the articles reserved for training queries."""


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _squad(path: Path) -> None:
    """Ten articles of three paragraphs, 130, 110 and 8 words: 3 benign chunks per article (100, 30 and 100 words)."""
    articles = []
    for title in SQUAD_ARTICLES:
        words = [f"{title.lower()}-w{i}" for i in range(130)]
        paragraphs = [" ".join(words), " ".join(words[:110]), " ".join(words[:8])]
        articles.append({"title": title, "paragraphs": [{"context": c, "qas": []} for c in paragraphs]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")


def write_data(root: Path) -> Path:
    """Every file the offline suite reads, a few rows each, uncompressed (the bundled data is gzipped)."""
    (root / "stsb").mkdir(parents=True)
    with open(root / "stsb" / "sts-test.csv", "w", encoding="utf-8") as f:
        for i in range(12):
            a, b = TOPICS[i % 4], TOPICS[(i * 3 + 1) % 4]
            f.write(f"main\tsrc\t2012\t{i:04d}\t{(i % 6):.3f}\tA text about {a}.\tSomething on {b}, {i}.\n")
    (root / "banking77").mkdir()
    (root / "banking77" / "categories.json").write_text(json.dumps(["card_arrival", "exchange_rate", "top_up"]))
    for split, n in (("train", 30), ("test", 24)):
        with open(root / "banking77" / f"{split}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "category"])
            for i in range(n):
                label = ["card_arrival", "exchange_rate", "top_up"][i % 3]
                writer.writerow([f"Question {i} about {label.replace('_', ' ')}, please help", label])
    for split, n in (("train", 36), ("test", 24)):
        _jsonl(
            root / "emotion" / f"{split}.jsonl",
            [{"text": f"i feel {i} times {TOPICS[i % 4]}", "label": i % 6} for i in range(n)],
        )
    _jsonl(
        root / "scifact" / "queries.jsonl",
        [{"_id": str(i), "text": f"Claim {i} on {TOPICS[i % 4]}."} for i in range(8)],
    )
    _jsonl(
        root / "scifact" / "corpus.jsonl",
        [{"_id": f"d{i}", "title": f"Title {i}", "text": f"Abstract {i}: " + TOPICS[i % 4] * 3} for i in range(20)],
    )
    (root / "scifact" / "qrels").mkdir()
    rows = "".join(f"{i}\td{i}\t1\n" for i in range(8))
    (root / "scifact" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    _jsonl(
        root / "advbench_ir" / "advbench-ir.jsonl",
        [{"id_": i, "instruction": f"Explain harmful thing {i}", "title": "", "response": ["x"]} for i in range(8)],
    )
    _jsonl(
        root / "advbench_ir" / "advbench-ir_chunked.jsonl",
        [{"id_": i, "title": "", "response": [f"Harmful {i}. " * 5]} for i in range(10)],
    )
    _squad(root / "squad" / "dev-v1.1-even-articles.json")
    (root / "advbench").mkdir()
    with open(root / "advbench" / "harmful_behaviors.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["goal", "target"])
        writer.writerows([[f"Explain harmful thing {i}", "Sure"] for i in range(4)])
    return root


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The miniature data folder."""
    return write_data(tmp_path_factory.mktemp("data"))
