"""The llm2vec-gen command: exit codes, messages, and each subcommand on tiny models."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from interop.published_format import build
from st_llm2vec_gen import create_model
from st_llm2vec_gen.cli.main import build_parser, main


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


CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


@pytest.fixture(scope="module")
def chat_backbone(llama_path, tmp_path_factory):
    """The tiny Llama with a chat template, as `generate` needs."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("chat") / "llama-chat"
    shutil.copytree(llama_path, path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    return str(path)


def write_queries(path, count):
    path.write_text("".join(json.dumps({"query": f"question {i}?"}) + "\n" for i in range(count)))
    return str(path)


def test_shards_write_their_own_files(chat_backbone, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", 5)
    common = ["--queries", queries, "--backbone", chat_backbone, "--max-new-tokens", "2", "--limit", "3"]
    for shard in ("0/2", "1/2"):
        assert main(["generate", *common, "--output", str(tmp_path / "r.jsonl"), "--shard", shard]) == 0
    rows = [json.loads(line) for i in (0, 1) for line in open(tmp_path / f"r.shard-{i}-of-2.jsonl")]
    assert sorted(r["id"] for r in rows) == [0, 1, 2]  # --limit 3: the first three queries
    assert all(r["truncated"] is True for r in rows)  # 2 tokens: every answer is cut


def test_generate_where_answers_one_source_first(chat_backbone, tmp_path, capsys):
    path = tmp_path / "q.jsonl"
    rows = [{"query": f"question {i}?", "source": "b" if i % 2 else "a"} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r.jsonl"
    common = ["generate", "--queries", str(path), "--output", str(out), "--backbone", chat_backbone]
    common += ["--max-new-tokens", "2"]
    assert main([*common, "--where", "source=b"]) == 0
    assert sorted(json.loads(line)["id"] for line in open(out)) == [1, 3]
    assert main(common) == 0  # the rest, each once
    assert sorted(json.loads(line)["id"] for line in open(out)) == [0, 1, 2, 3, 4]
    assert main([*common, "--where", "source=c"]) == 1
    assert "source=c: no query" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--where", "=x", "expected COLUMN=VALUE"),
        ("--where", "source", "expected COLUMN=VALUE"),
        ("--limit", "-1", "must be >= 1"),
        ("--limit", "0", "must be >= 1"),
        ("--batch-size", "0", "must be >= 1"),
        ("--max-new-tokens", "x", "expected an integer"),
        ("--do-sample", "y", "expected true/false"),
        ("--do-sample", "maybe", "expected true/false"),
        ("--shard", "3/2", "expected i/n"),
        ("--shard", "a/b", "expected i/n"),
        ("--shard", "1", "expected i/n"),
        ("--shard", "-1/2", "expected i/n"),
    ],
)
def test_generate_usage_errors_exit_2(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--queries", "q.jsonl", "--output", "r.jsonl", f"{option}={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and message in err


@pytest.mark.parametrize(
    ("value", "expected"), [("on", True), ("YES", True), ("1", True), ("off", False), ("no", False)]
)
def test_generate_booleans_are_strict(value, expected):
    args = build_parser().parse_args(["generate", "--queries", "q", "--output", "r", "--do-sample", value])
    assert args.do_sample is expected


@pytest.mark.slow  # killed runs in another process
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_generate_killed_and_rerun_loses_and_duplicates_nothing(chat_backbone, tmp_path, sig):
    queries, out = write_queries(tmp_path / "q.jsonl", 40), tmp_path / "r.jsonl"
    args = ["generate", "--queries", queries, "--output", str(out), "--backbone", chat_backbone]
    args += ["--max-new-tokens", "16"]
    command = [sys.executable, "-m", "st_llm2vec_gen.cli.main", *args, "--batch-size", "1"]  # one row per batch
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and not (out.exists() and out.read_bytes().count(b"\n") >= 3):
        assert time.monotonic() < deadline, "generate wrote nothing in 120 s"
        time.sleep(0.02)
    process.send_signal(sig)
    assert process.wait(timeout=60) != 0  # stopped before it was done
    written = out.read_bytes()
    kept = written[: written.rfind(b"\n") + 1]  # the complete rows at the moment of the kill
    assert main([*args, "--batch-size", "16"]) == 0  # batch size is free to change on a rerun
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == list(range(40))  # each query exactly once
    assert all(r["query"] == f"question {r['id']}?" for r in rows)
    assert out.read_bytes().startswith(kept)


def test_commands_work_without_the_eval_extra(capsys):
    """mteb is an extra: without it `--help`, train, generate, ... still parse; evaluate names the extra."""
    code = (
        "import sys; sys.modules['mteb'] = None\n"  # importing mteb now raises ImportError, as when it is missing
        "from st_llm2vec_gen.cli.main import build_parser, main\n"
        "build_parser().parse_args(['train', 'recipe.yaml'])\n"
        "assert main(['evaluate']) == 1\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip install 'st-llm2vec-gen[eval]'" in result.stderr and "Traceback" not in result.stderr
