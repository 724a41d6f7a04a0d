"""The committed sentiment queries (training/data/sentiment/queries.jsonl) are what their script makes from the stored
extract, and none of their texts touches a text the evaluation suite scores."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "training" / "scripts" / "build_sentiment_queries.py"
FOLDER = ROOT / "training" / "data" / "sentiment"
SUITE = ROOT / "st_llm2vec_gen" / "evaluation" / "suite_data"
PROMPT = json.loads((ROOT / "st_llm2vec_gen" / "default_model" / "config_sentence_transformers.json").read_text())[
    "prompts"
]["Classification"]


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_sentiment_queries", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rebuilt(script, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sentiment") / "queries.jsonl"
    stats = script.main(["--output", str(out)])
    return out, stats


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with (FOLDER / "queries.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_rerun_reproduces_the_committed_file(rebuilt):
    out, stats = rebuilt
    assert out.read_bytes() == (FOLDER / "queries.jsonl").read_bytes()
    assert sum(stats["kept"].values()) == len(out.read_text(encoding="utf-8").splitlines())


def test_rows_have_the_instructed_schema(rows):
    assert [row["id"] for row in rows] == list(range(len(rows)))
    for row in rows:
        assert set(row) == {"id", "query", "source", "source_id", "prompt_name"}
        assert row["prompt_name"] == "Classification"
        assert row["query"].startswith(PROMPT + " ") and row["source_id"].startswith(row["source"] + "/")
        assert 5 <= len(row["query"][len(PROMPT) + 1 :].split()) <= 80
    counts = {s: sum(row["source"] == s for row in rows) for s in ("uci_sentiment", "goemotions", "dailydialog")}
    assert counts == {"uci_sentiment": 900, "goemotions": 1050, "dailydialog": 630}
    texts = [_normalize(row["query"][len(PROMPT) + 1 :]) for row in rows]
    assert len(set(texts)) == len(texts)
    assert len({row["source_id"] for row in rows}) == len(rows)


def test_prefixes_mix_the_sources(rows):
    prefix = rows[:256]
    for source, share in (("uci_sentiment", 900), ("goemotions", 1050), ("dailydialog", 630)):
        got = sum(row["source"] == source for row in prefix) / len(prefix)
        assert abs(got - share / len(rows)) < 0.03, source


def test_no_query_text_overlaps_a_suite_text(rows):
    """Brute force, independent of the script: no text equals, contains or is contained in an Emotion or Banking77
    text (training and test files), both normalized."""
    suite: set[str] = set()
    for split in ("train", "test"):
        with gzip.open(SUITE / "emotion" / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
            suite |= {_normalize(json.loads(line)["text"]) for line in f}
        with gzip.open(SUITE / "banking77" / f"{split}.csv.gz", "rt", encoding="utf-8", newline="") as f:
            suite |= {_normalize(row["text"]) for row in csv.DictReader(f)}
    assert len(suite) > 30_000
    texts = [_normalize(row["query"][len(PROMPT) + 1 :]) for row in rows]
    all_suite = "\n".join(sorted(suite))
    all_texts = "\n".join(texts)
    inside = [t for t in texts if t in all_suite]  # equal to, or a part of, a suite text
    containing = [s for s in suite if s in all_texts]  # a suite text inside a query text
    assert not inside, inside[:5]
    assert not containing, containing[:5]


def test_extract_is_small_and_credited():
    assert (FOLDER / "sources.jsonl.gz").stat().st_size < 2_000_000
    sources = (FOLDER / "SOURCES.md").read_text(encoding="utf-8")
    for needle in ("CC BY 4.0", "Apache-2.0", "CC BY-NC-SA 4.0", "Kotzias", "Demszky", "DailyDialog"):
        assert needle in sources, needle
