"""The scripts in training/scripts/, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DATA = ROOT.parent / "shared" / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data next to the checkout (present in CI)")
def test_prepare_queries_from_the_bundled_data(tmp_path):
    out = tmp_path / "queries.jsonl"
    run("training/scripts/prepare_queries.py", "--data", str(DATA), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5000 + 332 and {r["source"] for r in rows} == {"alpaca_5000", "tulu_1_eval"}
    assert out.read_text() == (ROOT / "training" / "data" / "queries.jsonl").read_text()  # the committed file


def test_build_instructed_queries_remakes_the_committed_file(tmp_path):
    out = tmp_path / "queries.jsonl"
    run("training/scripts/build_instructed_queries.py", "--output", str(out))
    assert out.read_text() == (ROOT / "training" / "data" / "instructed" / "queries.jsonl").read_text()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    prompts = json.loads((ROOT / "st_llm2vec_gen" / "default_model" / "config_sentence_transformers.json").read_text())
    assert [r["prompt_name"] for r in rows[:3]] == ["STS", "Classification", "Clustering"]
    assert all(r["query"].startswith(prompts["prompts"][r["prompt_name"]] + " ") for r in rows)
