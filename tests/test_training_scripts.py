"""The scripts in training/: query preparation and the STS-B comparison, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from st_llm2vec_gen import create_model

ROOT = Path(__file__).parents[1]
DATA = ROOT.parent / "shared" / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_eval_stsb_reports_every_system(llama_path, tmp_path):
    model_dir = tmp_path / "model"
    create_model(llama_path, num_tokens=2, max_seq_length=128).save(str(model_dir))  # room for the STS prompt
    rows = [("A girl is styling her hair.", "A girl is brushing her hair.", 2.5),
            ("A man plays soccer.", "A man is playing football.", 4.2),
            ("A cat sleeps.", "The stock market fell.", 0.0),
            ("Two dogs run.", "Two dogs are running.", 4.8)]  # fmt: skip
    sts = tmp_path / "sts.csv"
    sts.write_text("".join(f"g\tf\ty\t{i}\t{score}\t{a}\t{b}\n" for i, (a, b, score) in enumerate(rows)))
    out = tmp_path / "scores.json"
    run("training/eval_stsb.py", "--model", str(model_dir), "--data", str(sts), "--output", str(out))
    scores = json.loads(out.read_text())["spearman"]
    assert set(scores) == {"llm2vec_gen", "llm2vec_gen_no_prompt", "backbone_mean", "backbone_last_token",
                           "backbone_mean_prompt", "backbone_last_token_prompt"}  # fmt: skip
    assert all(-100 - 1e-9 <= value <= 100 + 1e-9 for value in scores.values()), scores


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data next to the checkout (present in CI)")
def test_prepare_queries_from_the_bundled_data(tmp_path):
    out = tmp_path / "queries.jsonl"
    run("training/prepare_queries.py", "--data", str(DATA), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5000 + 332 and {r["source"] for r in rows} == {"alpaca_5000", "tulu_1_eval"}
    assert out.read_text() == (ROOT / "training" / "data" / "queries.jsonl").read_text()  # the committed file
