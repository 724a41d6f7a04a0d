"""The llm2vec-gen command: exit codes, messages, and each subcommand on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interop.published_format import build
from st_llm2vec_gen import create_model
from st_llm2vec_gen.cli import main


@pytest.fixture(scope="module")
def model_dir(llama_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    create_model(llama_path, num_tokens=2, max_seq_length=32).save(str(path))
    return str(path)


def test_encode_writes_embeddings(model_dir, tmp_path):
    out = tmp_path / "emb.npy"
    assert main(["encode", "--model", model_dir, "--output", str(out), "--prompt-name", "query", "a b", "c"]) == 0
    assert np.load(out).shape == (2, 32)
    assert main(["encode", "--model", model_dir, "--output", str(out), "x"]) == 1  # never overwritten silently
    assert np.load(out).shape == (2, 32)
    assert main(["encode", "--model", model_dir, "--output", str(out), "--overwrite", "x"]) == 0
    assert np.load(out).shape == (1, 32)


def test_decode_prints_json_lines(model_dir, capsys):
    assert main(["decode", "--model", model_dir, "--max-new-tokens", "3", "--top-k", "2", "Where do bears live?"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["text"] == "Where do bears live?" and isinstance(row["decoded"], str) and len(row["logit_lens"]) == 2


def test_convert_and_refuse_to_overwrite(llama_path, tmp_path, capsys):
    build(tmp_path / "pub", llama_path, 4, 4)
    assert main(["convert", str(tmp_path / "pub"), str(tmp_path / "out")]) == 0
    assert main(["convert", str(tmp_path / "pub"), str(tmp_path / "out")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "pub"), str(tmp_path / "out"), "--overwrite"]) == 0


def test_bad_input_exits_1_with_a_message_before_loading_a_model(tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": ""}\n')
    args = ["generate", "--queries", str(queries), "--output", str(tmp_path / "r.jsonl"), "--backbone", "/no/such/dir"]
    assert main(args) == 1
    assert "missing or empty 'query'" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["encode"])
    assert exit_info.value.code == 2
    assert main(["decode", "--model", "x"]) == 2


def test_unknown_prompt_name_is_refused(model_dir, capsys):
    assert main(["decode", "--model", model_dir, "--prompt-name", "nope", "text"]) == 1
    assert "Unknown prompt name 'nope'" in capsys.readouterr().err


def test_shards_write_their_own_files(llama_path, tmp_path):
    from st_llm2vec_gen.models.backbones import load_backbone

    _, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer.save_pretrained(llama_path + "-chat")
    import shutil

    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(f"{llama_path}/{name}", f"{llama_path}-chat/{name}")
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query": f"question {i}?"}) + "\n" for i in range(3)))
    common = ["--queries", str(queries), "--backbone", llama_path + "-chat", "--max-new-tokens", "2"]
    for shard in ("0/2", "1/2"):
        assert main(["generate", *common, "--output", str(tmp_path / "r.jsonl"), "--shard", shard]) == 0
    ids = [json.loads(line)["id"] for i in (0, 1) for line in open(tmp_path / f"r.shard-{i}-of-2.jsonl")]
    assert sorted(ids) == [0, 1, 2]
