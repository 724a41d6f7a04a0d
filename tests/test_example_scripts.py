"""Every task example runs as a user runs it (a subprocess), here on a tiny random model: fast, no backbone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

EXAMPLES = Path(__file__).parents[1] / "examples"


def run(script: str, model: str, *args: str) -> str:
    command = [sys.executable, str(EXAMPLES / script), "--model", model, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_retrieval(chat_model_dir):
    out = run("retrieval.py", chat_model_dir)
    assert out.count("Where do polar bears live?") == 1 and len(re.findall(r"^  [-0-9.]+  ", out, re.M)) == 6


def test_sts(chat_model_dir):
    out = run("sts.py", chat_model_dir)
    assert len(re.findall(r"\(gold [0-9.]+\)", out)) == 5 and re.search(r"Spearman .*: [-+][01]\.\d\d", out)


def test_classification(chat_model_dir):
    assert re.search(r"^Accuracy: [0-3]/3$", run("classification.py", chat_model_dir), re.M)


def test_clustering_assigns_every_text_once(chat_model_dir):
    out = run("clustering.py", chat_model_dir, "--k", "3")
    assert out.count("Cluster ") == 3 and len(re.findall(r"^  \S", out, re.M)) == 6


@pytest.mark.parametrize("queries", [[], ["Why is the sky blue?"]])
def test_decoding(chat_model_dir, queries):
    out = run("decoding.py", chat_model_dir, "--max-new-tokens", "4", *queries)
    for field in ("Query:", "Decoded:", "Logit lens:", "LLM answer:"):
        assert out.count(field) == (len(queries) or 3), field


def test_finetune_mnrl_with_the_regulariser(chat_model_dir, tmp_path):
    out = run("finetune_mnrl.py", chat_model_dir, "--steps", "2", "--pairs", "8", "--output", str(tmp_path / "ft"))
    assert out.count("Question:") == 2 and out.count("Decoded:") == 2 and "Similarity" in out
    assert re.search(r"held-out answers: [0-9.]+ before, [0-9.]+ after", out)
    assert (tmp_path / "ft" / "model.safetensors").is_file()
