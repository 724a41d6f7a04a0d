"""Runs killed or failing midway: a rerun or resume loses nothing, duplicates nothing, and ends where an
uninterrupted run ends.

generate's kill tests are in tests/test_cli.py (SIGKILL and SIGINT, then a rerun) and tests/test_responses.py (a
partial last line, a failure after some rows landed, a failed first batch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from st_llm2vec_gen.training.run import TrainConfig, resume_point, train

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

SLOW_TRAIN = Path(__file__).with_name("slow_train.py")


RESUME = {"args.resume_from_checkpoint": True}
"""The override that resumes from the newest complete checkpoint."""


def write_recipe(folder: Path, backbone: str, output_dir: Path) -> Path:
    """A 24-step run on 16 pairs (3 epochs), checkpointing every 4 steps."""
    rows = [{"query": f"Question {i} about bears?", "response": f"Answer {i}: on the sea ice."} for i in range(16)]
    (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = folder / f"{output_dir.name}.yaml"
    recipe.write_text(
        f"model: {{backbone: {backbone}, num_tokens: 2, max_seq_length: 32}}\ndata: {folder / 'pairs.jsonl'}\n"
        "batch_size: 2\nmax_steps: 24\nschedule_steps: null\n"
        f"args: {{output_dir: {output_dir}, save_steps: 4, warmup_steps: 2, learning_rate: 0.01, logging_steps: 1,\n"
        "       save_total_limit: 3, use_cpu: true}\n"
    )
    return recipe


def head(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "final" / "model.safetensors"))


def assert_same_head(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)


def complete_checkpoints(run: Path) -> list[str]:
    return sorted(p.parent.name for p in run.glob("checkpoint-*/trainer_state.json"))


def test_train_killed_with_sigkill_resumes_to_the_uninterrupted_result(llama_path, tmp_path):
    reference = TrainConfig.from_yaml(str(write_recipe(tmp_path, llama_path, tmp_path / "reference")))
    train(reference)

    recipe = write_recipe(tmp_path, llama_path, tmp_path / "killed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(SLOW_TRAIN), "0.15", "train", str(recipe)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 180
    while process.poll() is None and not complete_checkpoints(tmp_path / "killed"):
        assert time.monotonic() < deadline, "no checkpoint in 180 s"
        time.sleep(0.01)
    time.sleep(0.3)  # somewhere after the first checkpoint, before the last
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL  # killed mid-run, not finished
    assert not (tmp_path / "killed" / "final").exists()

    resumed = TrainConfig.from_yaml(str(recipe), **RESUME)
    assert resume_point(resumed) is not None
    train(resumed)
    assert_same_head(head(tmp_path / "killed"), head(tmp_path / "reference"))
    history = json.loads((tmp_path / "killed" / "log_history.json").read_text())
    assert history[-1]["step"] == 24


def test_an_incomplete_checkpoint_is_skipped_on_resume(llama_path, tmp_path):
    reference = TrainConfig.from_yaml(str(write_recipe(tmp_path, llama_path, tmp_path / "reference")))
    train(reference)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(tmp_path / "reference" / "checkpoint-16", run / "checkpoint-16")
    shutil.copy(next((tmp_path / "reference").glob("teacher-labels-*.npz")), run)
    partial = run / "checkpoint-20"  # killed while saving: the head is there, the trainer state never came
    partial.mkdir()
    shutil.copy(tmp_path / "reference" / "checkpoint-20" / "model.safetensors", partial)

    config = TrainConfig.from_yaml(str(write_recipe(tmp_path, llama_path, run)), **RESUME)
    assert resume_point(config) == str(run / "checkpoint-16")
    train(config)
    assert_same_head(head(run), head(tmp_path / "reference"))


def test_resume_with_no_complete_checkpoint_starts_over(llama_path, tmp_path, caplog):
    run = tmp_path / "run"
    (run / "checkpoint-4").mkdir(parents=True)  # killed while writing the very first checkpoint
    config = TrainConfig.from_yaml(str(write_recipe(tmp_path, llama_path, run)), **RESUME)
    assert resume_point(config) is None
    assert "No complete checkpoint" in caplog.text
