"""Multi-process DDP training launched by `torchrun --nproc_per_node 2`, on CPU (gloo) with a tiny backbone: the loss
unwraps the DDP model, each rank loads one backbone, each checkpoint file has one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)


def test_torchrun_two_processes(llama_path, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about bears?", "response": f"Answer {i}: the Arctic."} for i in range(16)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"model: {{backbone: {llama_path}, num_tokens: 2, max_seq_length: 32}}\ndata: {data}\n"
        "batch_size: 4\nloss: {contrastive_weight: 0.1}\nmax_steps: 3\n"
        f"args: {{output_dir: {tmp_path / 'out'}, save_steps: 2, warmup_steps: 0, logging_steps: 1, use_cpu: true}}\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "writes.tsv"
    torchrun = Path(sys.executable).with_name("torchrun")  # the launcher users run, from the same environment
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("record_writes.py")), str(log), "train", str(recipe)]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("Teacher self: embedding 16 of 16 texts") == 1  # rank 0 only; rank 1 reads its file
    writers: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        rank, path = line.split("\t")
        writers.setdefault(path, set()).add(rank)
    assert _loads(log) == {"0": 1, "1": 1}
    assert {(r, p.rpartition("/")[2]) for r, p in (line.split("\t") for line in log.read_text().splitlines())
            if "BACKEND:" in p} == {("0", "BACKEND:gloo"), ("1", "BACKEND:gloo")}  # fmt: skip
    checkpoint_files = {p: r for p, r in writers.items() if "/checkpoint-" in p and "/.tmp" not in p}
    assert any(p.endswith("model.safetensors") for p in checkpoint_files)
    assert {p: r for p, r in checkpoint_files.items() if len(r) > 1} == {}  # one writer per checkpoint file
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    assert any("reconstruction" in h and "contrastive" in h for h in history)
    # 3 steps x global batch 4 (2 per process) = 12 of 16 pairs: one process alone would have seen 6 (epoch 0.375)
    assert history[-1]["epoch"] == 0.75
    model = SentenceTransformer(str(tmp_path / "out" / "final"), trust_remote_code=True)
    assert model.encode(["Where do bears live?"]).shape == (1, 32)

    # Resume both ranks from the newest complete checkpoint: each still holds one backbone (sentence-transformers'
    # own resume would load a second one per rank), and the teacher labels are read from output_dir, not recomputed.
    resumed = tmp_path / "resume.tsv"
    cmd[cmd.index(str(log))] = str(resumed)
    cmd += ["--set", "max_steps=4", "--set", "args.resume_from_checkpoint=true"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert _loads(resumed) == {"0": 1, "1": 1} and "Teacher self: embedding" not in result.stderr
    assert json.loads((tmp_path / "out" / "log_history.json").read_text())[-1]["step"] == 4


def _loads(log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        rank, _, path = line.partition("\t")
        if path.endswith("LOAD"):
            counts[rank] = counts.get(rank, 0) + 1
    return counts
