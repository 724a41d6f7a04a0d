"""Files cut short, the backbone's recorded number format, and two runs writing one output."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time

import pytest
import torch
from sentence_transformers import SentenceTransformer

from interop.published_format import build
from st_llm2vec_gen import create_model
from st_llm2vec_gen.convert import convert_checkpoint
from st_llm2vec_gen.io.output_lock import OutputLock, OutputLockedError
from st_llm2vec_gen.io.records import load_pairs, read_texts


def _cut_gzip(path, rows: list[dict]) -> None:
    data = gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    path.write_bytes(data[: len(data) * 2 // 3])  # a crash while it was written


@pytest.mark.parametrize("reader", [read_texts, load_pairs])
def test_a_gzip_file_cut_short_is_named_with_its_last_good_line(tmp_path, reader):
    path = tmp_path / "pairs.jsonl.gz"
    _cut_gzip(path, [{"text": f"query {i} " * 20, "query": f"q{i}", "response": f"r{i} " * 20} for i in range(200)])
    with pytest.raises(ValueError, match=r"pairs\.jsonl\.gz.*cut short.*after line \d+"):
        reader(str(path))


def test_encode_and_train_name_a_cut_gzip_file_in_one_line(tmp_path, cli, saved_model, llama_path):
    path = tmp_path / "texts.jsonl.gz"
    _cut_gzip(path, [{"text": f"text {i} " * 20} for i in range(200)])
    code, err = cli("encode", "--model", saved_model, "--input", path, "--output", tmp_path / "out")
    assert code == 1 and "texts.jsonl.gz" in err and "cut short" in err
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"model: {{backbone: {llama_path}, num_tokens: 2}}\ndata: {path}\nargs: {{output_dir: {tmp_path / 'run'}}}\n"
    )
    code, err = cli("train", recipe)
    assert code == 1 and "texts.jsonl.gz" in err and "cut short" in err


# ---------------------------------------------------------------------------------------------------------------------
# The backbone's number format: "chosen" (honoured everywhere) against "left to the machine"


@pytest.fixture
def machine_prefers_bf16(monkeypatch):
    """A CPU with fast bf16: the automatic choice is bfloat16."""
    monkeypatch.setenv("ST_LLM2VEC_GEN_CPU_DTYPE", "bfloat16")


def test_a_converted_float32_checkpoint_loads_in_float32_by_default(llama_path, tmp_path, machine_prefers_bf16):
    build(tmp_path / "published", llama_path, 10, 10)  # run_config.yml: torch_dtype float32
    convert_checkpoint(str(tmp_path / "published"), str(tmp_path / "converted"))
    model = SentenceTransformer(str(tmp_path / "converted"), trust_remote_code=True)  # no model_kwargs
    assert model[0].backbone.dtype == torch.float32
    pinned = SentenceTransformer(str(tmp_path / "converted"), trust_remote_code=True,
                                 model_kwargs={"dtype": "float32"})  # fmt: skip
    texts = ["Where do polar bears live?", "The capital of France is Paris."]
    assert torch.equal(model.encode(texts, convert_to_tensor=True), pinned.encode(texts, convert_to_tensor=True))


def test_a_head_made_with_the_automatic_format_still_chooses_per_machine(llama_path, tmp_path, machine_prefers_bf16):
    create_model(llama_path, num_tokens=2, max_seq_length=32).save(str(tmp_path / "auto"))
    assert json.loads((tmp_path / "auto" / "llm2vec_gen_config.json").read_text())["dtype"] is None
    loaded = SentenceTransformer(str(tmp_path / "auto"), trust_remote_code=True)
    assert loaded[0].backbone.dtype == torch.bfloat16


def test_an_explicit_float32_head_is_honoured_and_old_float32_heads_still_choose(
    llama_path, tmp_path, machine_prefers_bf16
):
    model = create_model(llama_path, num_tokens=2, max_seq_length=32, model_kwargs={"dtype": "float32"})
    model.save(str(tmp_path / "pinned"))
    assert SentenceTransformer(str(tmp_path / "pinned"), trust_remote_code=True)[0].backbone.dtype == torch.float32
    old = tmp_path / "old"  # saved before the format could say "auto": float32 meant the machine's choice
    model.save(str(old))
    config = json.loads((old / "llm2vec_gen_config.json").read_text())
    config.pop("format_version")
    (old / "llm2vec_gen_config.json").write_text(json.dumps(config))
    assert SentenceTransformer(str(old), trust_remote_code=True)[0].backbone.dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------------------------------
# Two writers on one output

HOLD = """
import sys, time
from st_llm2vec_gen.io.output_lock import OutputLock
with OutputLock(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_stops_naming_the_live_holder_and_a_killed_holder_blocks_nothing(tmp_path):
    lock = tmp_path / "out.lock"
    holder = _holder(lock)
    try:
        with pytest.raises(OutputLockedError, match=rf"process {holder.pid}\b"):
            OutputLock(lock, "test").acquire()
    finally:
        holder.kill()
        holder.wait()
    assert lock.exists()  # a killed run leaves its lock file behind ...
    with OutputLock(lock, "test"):  # ... which does not block a rerun
        pass


def test_a_second_encode_on_the_same_output_stops_with_a_message(tmp_path, cli, saved_model):
    out = tmp_path / "vectors"
    holder = _holder(tmp_path / ".vectors.lock")
    try:
        code, err = cli("encode", "--model", saved_model, "one text", "two texts", "--output", out)
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and f"process {holder.pid}" in err
    assert not out.exists()  # the second run wrote nothing
    assert cli("encode", "--model", saved_model, "one text", "two texts", "--output", out)[0] == 0


def test_a_second_generate_on_the_same_output_stops_with_a_message(tmp_path, cli):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query": "Where do polar bears live?"}) + "\n")
    out = tmp_path / "responses.jsonl"
    holder = _holder(tmp_path / ".responses.jsonl.lock")
    start = time.monotonic()
    try:
        code, err = cli("generate", "--queries", queries, "--output", out, "--max-new-tokens", "4")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and f"process {holder.pid}" in err and not out.exists()
    assert time.monotonic() - start < 30  # refused before any model is loaded
