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


def test_average_heads_writes_the_mean_head_as_a_loadable_model_and_refuses_mismatches(tmp_path, llama_path):
    import torch
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import create_model

    folders = []
    for seed, tokens in ((0, 2), (1, 2), (2, 3)):
        folders.append(tmp_path / f"run{seed}")
        model = create_model(llama_path, num_tokens=tokens, max_seq_length=32)
        with torch.no_grad():  # a trained head: its own values in every tensor
            for parameter in model[0].head.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(seed)))
        model.save(str(folders[-1]))
    heads = [load_file(str(f / "model.safetensors")) for f in folders[:2]]
    assert all(not torch.equal(heads[0][name], heads[1][name]) for name in heads[0])
    out = tmp_path / "soup"
    run("training/scripts/average_heads.py", str(folders[0]), str(folders[1]), "--output", str(out))
    soup = load_file(str(out / "model.safetensors"))
    for name, tensor in soup.items():
        assert torch.allclose(tensor, (heads[0][name].double() + heads[1][name].double()).div(2).float(), atol=0)
    model = SentenceTransformer(str(out), device="cpu", trust_remote_code=True)
    assert torch.equal(model[0].head.compression_tokens.detach(), soup["compression_tokens"])
    assert model.encode(["a text"]).shape == (1, model.get_sentence_embedding_dimension())

    def refused(*args: str) -> str:
        result = subprocess.run([sys.executable, "training/scripts/average_heads.py", *args], capture_output=True,
                                text=True, timeout=600, cwd=ROOT)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        return result.stderr.strip().splitlines()[-1]

    assert "exists; pass --overwrite" in refused(str(folders[0]), str(folders[1]), "--output", str(out))
    assert "differs from" in refused(str(folders[0]), str(folders[2]), "--output", str(tmp_path / "mixed"))
    assert not (tmp_path / "mixed").exists()
