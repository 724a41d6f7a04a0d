"""The committed training-query corpus (training/data/corpus/queries.jsonl.gz) keeps the rules it was built by."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = ROOT / "training" / "data" / "corpus" / "queries.jsonl.gz"

needs_sources = pytest.mark.skipif(
    not DATA.is_dir(), reason="checks against the raw sources in ../shared/data (present in CI)"
)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_queries", ROOT / "training" / "scripts" / "build_queries.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return _script()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@needs_sources
def test_ids_are_positions_and_rows_have_provenance(rows):
    assert [row["id"] for row in rows] == list(range(len(rows)))  # the ids `llm2vec-gen generate` gives answers
    for row in rows:
        assert set(row) == {"id", "query", "source", "source_id"}
        assert row["query"].strip() and row["source"]
        file, _, original = row["source_id"].partition(":")
        assert original and (DATA / file).is_file(), row["source_id"]


def test_no_duplicate_normalized_text(rows, build):
    keys = [build.normalize(row["query"]) for row in rows]
    assert len(set(keys)) == len(keys)


@needs_sources
def test_no_evaluation_text(rows, build):
    evaluation = build.evaluation_texts(DATA)
    hits = [row["id"] for row in rows if build.normalize(row["query"]) in evaluation]
    assert not hits, f"rows equal to an evaluation text: {hits[:10]}"


@needs_sources
def test_no_reserved_squad_article(rows, build):
    squad = json.loads((DATA / build.SQUAD_FILE).read_text(encoding="utf-8"))["data"]
    reserved = [squad[i] for i in build.RESERVED_SQUAD_ARTICLES]
    question_ids = {qa["id"] for article in reserved for p in article["paragraphs"] for qa in p["qas"]}
    paragraphs = {build.normalize(p["context"]) for article in reserved for p in article["paragraphs"]}
    for row in rows:
        if row["source_id"].startswith(build.SQUAD_FILE):
            original = row["source_id"].split(":", 1)[1]
            assert original not in question_ids, row
            if original.startswith("data["):
                assert int(original[5:].split("]")[0]) not in build.RESERVED_SQUAD_ARTICLES, row
        text = build.normalize(row["query"]).removeprefix(build.normalize(build.DOCUMENT) + " ")
        assert text not in paragraphs, row


def test_every_source_is_present_and_long_queries_are_dropped(rows, build):
    assert {row["source"] for row in rows} == set(build.SOURCES)
    assert max(len(row["query"]) for row in rows) <= 1500
    passages = [row["query"] for row in rows if row["source"] == "squad_passages"]
    assert passages and all(p.startswith(build.DOCUMENT + " ") for p in passages)


def test_prefixes_mix_the_sources(rows):
    """Any block-aligned prefix holds each source in about its overall share (generation stops part way)."""
    total: dict[str, int] = {}
    for row in rows:
        total[row["source"]] = total.get(row["source"], 0) + 1
    prefix = rows[:2048]
    for source, count in total.items():
        share = sum(row["source"] == source for row in prefix) / len(prefix)
        assert abs(share - count / len(rows)) < 0.01 + 0.2 * count / len(rows), source
