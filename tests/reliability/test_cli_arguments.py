"""Every ``llm2vec-gen`` command given bad arguments or bad files: exit 1 (bad input) or 2 (bad usage) with one
``llm2vec-gen <command>: error: ...`` line, never a traceback (the ``cli`` fixture checks both).

Also in tests/test_cli.py (generate's option ranges, unknown prompt names, convert refusing a non-empty folder) and
tests/evaluation/test_suite.py (evaluate refusing to overwrite, unknown tasks).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interop.published_format import build


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def queries(tmp_path) -> Path:
    return write(tmp_path / "q.jsonl", '{"query": "Where do polar bears live?"}\n{"query": "Why is the sky blue?"}\n')


@pytest.fixture()
def recipe(tmp_path, llama_path) -> Path:
    pairs = write(tmp_path / "pairs.jsonl", json.dumps({"query": "q?", "response": "an answer"}) + "\n")
    settings = f"model: {{backbone: {llama_path}, num_tokens: 2, max_seq_length: 32}}\ndata: {pairs}\n"
    return write(
        tmp_path / "recipe.yaml", settings + f"args: {{output_dir: {tmp_path / 'run'}}}\nbatch_size: 1\nmax_steps: 1\n"
    )


# --------------------------------------------------------------------------------------------------------------------
# No command, unknown command


def test_no_command_and_unknown_command_are_usage_errors(cli):
    assert cli()[0] == 2
    assert cli("embed")[0] == 2


# --------------------------------------------------------------------------------------------------------------------
# generate


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('["a list"]\n', "q.jsonl:1 is a JSON list, not an object"),
        ('{"query": "ok"}\n{"query": \n', "q.jsonl:2 is not valid JSON"),
        ('{"title": "no query"}\n', "none of the columns"),
    ],
)
def test_generate_bad_query_files(cli, tmp_path, content, message):
    code, err = cli("generate", "--queries", write(tmp_path / "q.jsonl", content), "--output", tmp_path / "r.jsonl")
    assert code == 1 and message in err and not (tmp_path / "r.jsonl").exists()


def test_generate_missing_query_file(cli, tmp_path):
    code, err = cli("generate", "--queries", tmp_path / "absent.jsonl", "--output", tmp_path / "r.jsonl")
    assert code == 1 and "absent.jsonl" in err


def test_generate_missing_backbone_path(cli, queries, tmp_path):
    code, err = cli("generate", "--queries", queries, "--output", tmp_path / "r.jsonl", "--backbone", tmp_path / "nope")
    assert code == 1 and f"The backbone path {tmp_path / 'nope'} does not exist" in err


def test_generate_unknown_dtype(cli, queries, chat_backbone, tmp_path):
    args = ["--queries", queries, "--output", tmp_path / "r.jsonl", "--backbone", chat_backbone, "--dtype", "float17"]
    code, err = cli("generate", *args)
    assert code == 1 and "Unknown backbone dtype 'float17': use one of auto, bfloat16" in err


def test_generate_output_that_is_a_folder(cli, queries, chat_backbone, tmp_path):
    code, err = cli("generate", "--queries", queries, "--output", tmp_path, "--backbone", chat_backbone)
    assert code == 1 and "is a folder: give the path of a .jsonl file" in err


def test_generate_creates_a_missing_output_folder(cli, queries, chat_backbone, tmp_path):
    out = tmp_path / "new" / "folder" / "r.jsonl"
    code, _ = cli("generate", "--queries", queries, "--output", out, "--backbone", chat_backbone, "--max-new-tokens", 2)
    assert code == 0 and len(out.read_text().splitlines()) == 2


def test_generate_missing_required_option(cli, tmp_path):
    assert cli("generate", "--output", tmp_path / "r.jsonl")[0] == 2


# --------------------------------------------------------------------------------------------------------------------
# train


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_steps: [1\n", "is not valid YAML"),
        ("- a list\n", "must hold a mapping of settings"),
        ("learning_rte: 0.1\n", "unknown settings ['learning_rte']"),
        (
            "learning_rate: 0.1\n",
            "`learning_rate` is a key of the old flat recipe form: write it as `args.learning_rate`",
        ),
        ("max_steps: many\n", "max_steps must be int, got 'many'"),
        ("model: {num_tokens: 0}\n", "num_tokens must be >= 1"),
        ("dtype: bfloat17\n", "Unknown backbone dtype 'bfloat17'"),
        ("batch_size: -4\n", "batch_size must be positive"),
    ],
)
def test_train_bad_recipes(cli, tmp_path, text, message):
    code, err = cli("train", write(tmp_path / "r.yaml", text))
    assert code == 1 and message in err


def test_train_missing_recipe(cli, tmp_path):
    code, err = cli("train", tmp_path / "absent.yaml")
    assert code == 1 and "absent.yaml" in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_steps", "--set expects KEY=VALUE, got 'max_steps'"),
        ("args.learning_rate=fast", "learning_rate must be float, got 'fast'"),
        ("model.num_tokens=64", "max_seq_length (32) must exceed num_tokens (64)"),
        ("data=/no/such/pairs.jsonl", "/no/such/pairs.jsonl"),
        ("args.resume_from_checkpoint=/no/such/checkpoint-3", "is not a complete checkpoint"),
    ],
)
def test_train_bad_overrides(cli, recipe, override, message):
    code, err = cli("train", recipe, "--set", override)
    assert code == 1 and message in err


def test_train_missing_backbone_path(cli, recipe, tmp_path):
    code, err = cli("train", recipe, "--set", f"model.backbone={tmp_path / 'gone'}")
    assert code == 1 and f"The backbone path {tmp_path / 'gone'} does not exist" in err


def test_train_refuses_a_finished_run_without_overwrite(cli, recipe, tmp_path):
    (tmp_path / "run" / "final").mkdir(parents=True)
    code, err = cli("train", recipe)
    assert code == 1 and "already holds a training run (final)" in err


# --------------------------------------------------------------------------------------------------------------------
# encode and decode (encode's output handling is tested in tests/test_cli.py)


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_no_texts_and_no_model_are_usage_errors(cli, command, saved_model, tmp_path):
    extra = ["--output", tmp_path / "e.npy"] if command == "encode" else []
    assert cli(command, "--model", saved_model, *extra)[0] == 2  # neither texts nor --input
    assert cli(command, "text", *extra)[0] == 2  # --model is required


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_missing_model_path_and_input_file(cli, command, saved_model, tmp_path):
    extra = ["--output", tmp_path / "e.npy"] if command == "encode" else []
    code, err = cli(command, "--model", tmp_path / "nope", "text", *extra)
    assert code == 1 and f"{tmp_path / 'nope'} " in err and ("does not exist" in err or "not found" in err)
    code, err = cli(command, "--model", saved_model, "--input", tmp_path / "absent.jsonl", *extra)
    assert code == 1 and "absent.jsonl" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--top-k", "100000", "top_k must be an integer of at least 1 and at most 400"),
        ("--max-new-tokens", "1000000000", "max_new_tokens must be an integer of at least 1 and at most 4096"),
    ],
)
def test_decode_options_above_their_bounds(cli, saved_model, option, value, message):
    code, err = cli("decode", "--model", saved_model, option, value, "Where do polar bears live?")
    assert code == 1 and message in err


@pytest.mark.parametrize(("option", "value"), [("--top-k", "0"), ("--top-k", "many"), ("--max-new-tokens", "-1")])
def test_decode_options_below_one_or_not_numbers(cli, saved_model, option, value):
    code, err = cli("decode", "--model", saved_model, option, value, "text")
    assert code == 2 and f"argument {option}" in err


def test_decode_input_rows_that_are_not_objects(cli, saved_model, tmp_path):
    code, err = cli("decode", "--model", saved_model, "--input", write(tmp_path / "t.jsonl", '"just text"\n'))
    assert code == 1 and "t.jsonl:1 is a JSON str, not an object" in err


# --------------------------------------------------------------------------------------------------------------------
# convert


@pytest.fixture()
def published(llama_path, tmp_path) -> Path:
    build(tmp_path / "published", llama_path, 2, 2)
    return tmp_path / "published"


def test_convert_missing_source_and_base_model(cli, published, tmp_path):
    code, err = cli("convert", tmp_path / "nope", tmp_path / "out")
    assert code == 1 and "The published checkpoint path" in err and "does not exist" in err
    code, err = cli("convert", published, tmp_path / "out", "--base-model", tmp_path / "no-base")
    assert code == 1 and "The base model path" in err and not (tmp_path / "out").exists()


def test_convert_source_or_destination_that_is_a_file(cli, published, tmp_path):
    code, err = cli("convert", published / "run_config.yml", tmp_path / "out")
    assert code == 1 and "is a file: give the published checkpoint's directory" in err
    code, err = cli("convert", published, write(tmp_path / "file", "x"))
    assert code == 1 and "is a file, not a directory" in err


def test_convert_incomplete_checkpoint(cli, published, tmp_path):
    (published / "alignment_mlp").unlink()
    code, err = cli("convert", published, tmp_path / "out")
    assert code == 1 and "missing ['alignment_mlp']" in err and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_unknown_method_and_missing_model(cli, tmp_path):
    assert cli("evaluate", "--methods", "magic", "--output", tmp_path / "r.json")[0] == 2
    code, err = cli("evaluate", "--model", tmp_path / "nope", "--output", tmp_path / "r.json")
    assert code == 1 and "The model path" in err and not (tmp_path / "r.json").exists()


def test_evaluate_damaged_model(cli, model_copy, tmp_path):
    write(model_copy / "modules.json", "")
    code, err = cli("evaluate", "--model", model_copy, "--output", tmp_path / "r.json")
    assert code == 1 and "modules.json is not valid JSON" in err
