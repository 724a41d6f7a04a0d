"""The response file every writer (one process, Ray) goes through: its rows, its settings file, its resume."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

import st_llm2vec_gen.generation as generation
from st_llm2vec_gen.generation.engines import Generation, GenerationSettings
from st_llm2vec_gen.generation.response_file import ResponseFile, response_row, settings_record

QUERIES = ["Where do polar bears live?", "Capital of France?", "Hi"]
SETTINGS = GenerationSettings(max_new_tokens=5, batch_size=2)
RECORD = settings_record(SETTINGS, "echo", dict)


def test_rows_are_written_in_the_format_resume_reads(tmp_path):
    path = str(tmp_path / "responses.jsonl")
    file = ResponseFile(path, QUERIES)
    assert file.resume() == {} and not file.check_settings(RECORD)
    rows = [response_row(1, QUERIES[1], Generation("Paris, é", truncated=False))]
    file.append(rows)
    assert open(path, encoding="utf-8").read() == '{"id": 1, "query": "Capital of France?", "response": "Paris, é", ' \
        '"truncated": false}\n'  # fmt: skip
    assert json.loads(open(file.settings_path).read()) == RECORD and file.settings_path == path + ".settings.json"
    again = ResponseFile(path, QUERIES)
    assert again.resume() == {1: rows[0]} and again.check_settings(RECORD)
    other_batch = settings_record(GenerationSettings(max_new_tokens=5, batch_size=7), "echo", dict)
    assert ResponseFile(path, QUERIES).check_settings(other_batch)  # batch size is free to change
    assert again.todo([0, 1, 2]) == [0, 2]


def test_the_settings_file_is_written_before_the_first_rows_and_only_then(tmp_path):
    path = str(tmp_path / "responses.jsonl")
    file = ResponseFile(path, QUERIES)
    file.resume()
    with pytest.raises(RuntimeError, match="check_settings"):
        file.append([response_row(0, QUERIES[0], Generation("a", True))])
    file.check_settings(RECORD)
    assert not os.path.exists(file.settings_path)  # nothing answered yet: nothing recorded
    file.append([response_row(0, QUERIES[0], Generation("a", True))])
    assert os.path.exists(file.settings_path) and sorted(os.listdir(tmp_path)) == [
        "responses.jsonl", "responses.jsonl.settings.json",
    ]  # fmt: skip


def test_an_id_is_appended_once(tmp_path):
    path = str(tmp_path / "responses.jsonl")
    file = ResponseFile(path, QUERIES)
    file.resume()
    file.check_settings(RECORD)
    first = response_row(0, QUERIES[0], Generation("first", False))
    file.append([first])
    again = response_row(0, QUERIES[0], Generation("again", False))
    file.append([again, response_row(2, QUERIES[2], Generation("x", False))])
    assert [json.loads(line)["id"] for line in open(path)] == [0, 2]
    assert file.rows_of([0]) == [first]  # what the file holds


def test_a_partial_last_line_is_cut_in_place(tmp_path):
    out = tmp_path / "responses.jsonl"
    complete = json.dumps({"id": 0, "query": QUERIES[0], "response": "a"}) + "\n"
    out.write_text(complete + '{"id": 1, "query": "Capi')
    inode = out.stat().st_ino
    assert list(ResponseFile(str(out), QUERIES).resume()) == [0]
    assert out.read_text() == complete and out.stat().st_ino == inode


def test_other_settings_are_refused_only_where_rows_were_made_with_them(tmp_path, caplog):
    path = str(tmp_path / "responses.jsonl")
    Path(path + ".settings.json").write_text(json.dumps({**RECORD, "max_new_tokens": 9}))
    empty = ResponseFile(path, QUERIES)
    empty.resume()
    assert not empty.check_settings(RECORD) and "will be replaced" in caplog.text
    Path(path).write_text(json.dumps({"id": 0, "query": QUERIES[0], "response": "a"}) + "\n")
    full = ResponseFile(path, QUERIES)
    full.resume()
    with pytest.raises(ValueError, match="other settings"):
        full.check_settings(RECORD)


def test_legacy_settings_without_new_fields_still_match(tmp_path):
    path = str(tmp_path / "responses.jsonl")
    legacy = {k: v for k, v in RECORD.items() if k != "use_model_generation_config"}
    Path(path + ".settings.json").write_text(json.dumps(legacy))
    assert ResponseFile(path, QUERIES).check_settings(RECORD)


def test_rows_of_names_what_is_missing(tmp_path):
    file = ResponseFile(str(tmp_path / "responses.jsonl"), QUERIES)
    with pytest.raises(RuntimeError, match="no answer to 2 queries \\(first id 1\\)"):
        file.rows_of([1, 2])


def test_the_models_decoding_is_asked_only_when_recorded():
    def fails() -> dict:
        raise AssertionError("asked")

    assert "model_generation_config" not in settings_record(SETTINGS, "echo", fails)
    own = GenerationSettings(use_model_generation_config=True)
    assert settings_record(own, "echo", lambda: {"top_k": 7})["model_generation_config"] == {"top_k": 7}


def test_no_private_name_is_imported_across_the_generation_modules():
    for file in Path(generation.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{file.name} imports {private} from {node.module}"
