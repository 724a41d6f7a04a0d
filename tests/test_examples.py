"""The runnable examples, run as a user runs them, on the embedded backbone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.backbone, pytest.mark.slow]
EXAMPLES = Path(__file__).parents[1] / "examples"


def run(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quickstart():
    """The README's main job."""
    out = run(str(EXAMPLES / "quickstart.py"))
    assert "Cosine similarity" in out and "Decoded from the embedding" in out
    assert "diagonal = correct: 3/3" in out  # the default model finds each query's document


def test_training(tmp_path):
    out = run(str(EXAMPLES / "training.py"), "--steps", "6", "--pairs", "8", "--output", str(tmp_path / "head"))
    assert "saved to" in out and (tmp_path / "head" / "model.safetensors").is_file()
    found = re.search(r"reconstruction CE on the 8 training pairs: before ([\d.]+), after ([\d.]+)", out)
    before, after = map(float, found.groups())
    assert after < 0.9 * before, out  # six steps on eight pairs: the soft prompts already help regenerate the answers
