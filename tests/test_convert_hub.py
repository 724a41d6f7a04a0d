"""Converting published checkpoints by hub id (from a pre-populated hub cache, offline) and in their dtype.

The hub test lays out a real huggingface_hub cache (``models--org--name/snapshots/<commit>/``, ``refs/<branch>``)
and runs the command line in a subprocess with ``HF_HUB_CACHE`` pointing at it and ``HF_HUB_OFFLINE=1``: the real
resolution code of huggingface_hub and transformers runs, nothing of ours is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForCausalLM

from interop.published_format import build
from st_llm2vec_gen import create_model
from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.convert import ConversionError, convert_checkpoint

TEXTS = ["Where do polar bears live?", "The capital of France is Paris.", "Photosynthesis"]
COMMITS = {"ckpt": "c" * 40, "base": "a" * 40, "base-v2": "b" * 40}


def set_run_config(checkpoint: Path, **values: str) -> None:
    """Rewrites keys of a published run_config.yml (one ``key: str(value)`` per line)."""
    path = checkpoint / "run_config.yml"
    lines = [line for line in path.read_text().splitlines() if line.split(":")[0] not in values]
    path.write_text("".join(f"{line}\n" for line in lines) + "".join(f"{k}: {v}\n" for k, v in values.items()))


def cache_snapshot(cache: Path, repo_id: str, commit: str, source: str, refs: tuple[str, ...] = ("main",)) -> None:
    """Lays ``source`` out as huggingface_hub caches a repository revision."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(source, repo / "snapshots" / commit)
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)


def perturbed_copy(backbone: str, target: Path) -> str:
    """The backbone with different weights (another revision of the same repository)."""
    model = AutoModelForCausalLM.from_pretrained(backbone)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(target)
    for name in os.listdir(backbone):
        if name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(os.path.join(backbone, name), target / name)
    return str(target)


HUB_RUN = """
import sys
import numpy as np
from sentence_transformers import SentenceTransformer
from st_llm2vec_gen.cli.main import main

out, texts = sys.argv[1], sys.argv[2:]
assert main(["convert", "org/ckpt", out + "/by-id"]) == 0
assert main(["convert", "org/ckpt", out + "/by-id-v2", "--base-revision", "v2"]) == 0
model = SentenceTransformer(out + "/by-id", trust_remote_code=True)
assert str(model[0].backbone.dtype) == "torch.bfloat16", model[0].backbone.dtype
fp32 = SentenceTransformer(out + "/by-id", trust_remote_code=True, model_kwargs={"dtype": "float32"})
np.save(out + "/by-id.npy", fp32.encode(texts))
v2 = SentenceTransformer(out + "/by-id-v2", trust_remote_code=True, model_kwargs={"dtype": "float32"})
np.save(out + "/by-id-v2.npy", v2.encode(texts))

from st_llm2vec_gen import create_model  # a new model on a hub backbone at a revision records it too
created = create_model("tiny/llama", num_tokens=2, max_seq_length=32, model_kwargs={"revision": "v2"})
created.save(out + "/created")
again = SentenceTransformer(out + "/created", trust_remote_code=True)
np.save(out + "/created.npy", np.stack([created.encode(texts), again.encode(texts)]))
"""


def test_convert_by_hub_id_from_the_cache_offline(llama_path, tmp_path):
    published = tmp_path / "published"
    build(published, llama_path, 4, 4)
    set_run_config(published, model_name_or_path="tiny/llama", torch_dtype="torch.bfloat16")
    base_v2 = perturbed_copy(llama_path, tmp_path / "base-v2")
    cache = tmp_path / "hub"
    cache_snapshot(cache, "org/ckpt", COMMITS["ckpt"], str(published))
    cache_snapshot(cache, "tiny/llama", COMMITS["base"], llama_path)
    cache_snapshot(cache, "tiny/llama", COMMITS["base-v2"], base_v2, refs=("v2",))

    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "mods")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    args = [sys.executable, "-c", HUB_RUN, str(tmp_path), *TEXTS]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    by_id = json.loads((tmp_path / "by-id" / "llm2vec_gen_config.json").read_text())
    assert by_id["backbone_name_or_path"] == "tiny/llama" and by_id["dtype"] == "bfloat16"
    assert by_id["vocab_size"] == 400  # read from the cached base config
    st_config = json.loads((tmp_path / "by-id" / "config_sentence_transformers.json").read_text())
    assert st_config["converted_from"] == "org/ckpt" and st_config["converted_revision"] == COMMITS["ckpt"]
    v2_config = json.loads((tmp_path / "by-id-v2" / "llm2vec_gen_config.json").read_text())
    assert v2_config["revision"] == "v2" and "revision" not in by_id

    # Parity with the directory path: same head bytes, same embeddings.
    convert_checkpoint(str(published), str(tmp_path / "by-dir"), base_model=llama_path)
    head = (tmp_path / "by-dir" / "model.safetensors").read_bytes()
    assert (tmp_path / "by-id" / "model.safetensors").read_bytes() == head
    by_dir = SentenceTransformer(str(tmp_path / "by-dir"), trust_remote_code=True, model_kwargs={"dtype": "float32"})
    assert np.abs(np.load(tmp_path / "by-id.npy") - by_dir.encode(TEXTS)).max() <= 1e-5

    # The recorded base revision is the one loaded: the v2 weights, not main's.
    convert_checkpoint(str(published), str(tmp_path / "v2-dir"), base_model=base_v2)
    v2_dir = SentenceTransformer(str(tmp_path / "v2-dir"), trust_remote_code=True, model_kwargs={"dtype": "float32"})
    expected = v2_dir.encode(TEXTS)
    assert np.abs(np.load(tmp_path / "by-id-v2.npy") - expected).max() <= 1e-5
    assert np.abs(np.load(tmp_path / "by-id.npy") - expected).max() > 1e-3  # the revisions really differ

    created = json.loads((tmp_path / "created" / "llm2vec_gen_config.json").read_text())
    assert created["backbone_name_or_path"] == "tiny/llama" and created["revision"] == "v2"
    new, reloaded = np.load(tmp_path / "created.npy")
    on_v2 = create_model(base_v2, num_tokens=2, max_seq_length=32).encode(TEXTS)  # same init: same backbone weights
    assert np.abs(new - on_v2).max() <= 1e-5 and np.abs(reloaded - on_v2).max() <= 1e-5


@pytest.mark.parametrize(
    ("torch_dtype", "expected"),
    [("torch.bfloat16", torch.bfloat16), ("bfloat16", torch.bfloat16), ("float16", torch.float16),
     ("torch.float32", torch.float32), ("None", torch.float32)],
)  # fmt: skip
def test_published_dtype_is_the_converted_models_dtype(llama_path, tmp_path, torch_dtype, expected):
    build(tmp_path / "pub", llama_path, 4, 4)
    set_run_config(tmp_path / "pub", torch_dtype=torch_dtype)
    convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "out"))
    model = SentenceTransformer(str(tmp_path / "out"), trust_remote_code=True)
    assert model[0].backbone.dtype == expected
    assert model.encode(TEXTS[:1]).dtype == np.float32
    if expected != torch.float32:
        override = SentenceTransformer(str(tmp_path / "out"), trust_remote_code=True, model_kwargs={"dtype": "float32"})
        assert override[0].backbone.dtype == torch.float32


def test_unknown_published_dtype_is_refused(llama_path, tmp_path):
    build(tmp_path / "pub", llama_path, 4, 4)
    set_run_config(tmp_path / "pub", torch_dtype="torch.int8")
    with pytest.raises(ConversionError, match="torch_dtype 'torch.int8'"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_base_revision_needs_a_hub_id(llama_path, tmp_path):
    build(tmp_path / "pub", llama_path, 4, 4)
    with pytest.raises(ValueError, match="applies to a hub id"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "out"), base_revision="v2")


def test_missing_source_is_not_found(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for src in ("no-such-checkpoint", "org/no-such-checkpoint", "./no/such/checkpoint"):
        assert main(["convert", src, str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        assert "not found" in err or (src.startswith("./") and "does not exist" in err), err
        assert "repo id" not in err.lower() and "repo_id" not in err, err
    assert not (tmp_path / "out").exists()
