"""Reading query sources: formats, column detection, and clear errors on bad rows."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen.queries import read_queries
from st_llm2vec_gen.training import load_pairs


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_formats_and_column_detection(tmp_path):
    assert read_queries(write_jsonl(tmp_path / "q.jsonl", [{"prompt": "a?"}, {"prompt": "b?"}])) == ["a?", "b?"]
    (tmp_path / "q.csv").write_text("id,question\n1,why?\n2,how?\n")
    assert read_queries(str(tmp_path / "q.csv")) == ["why?", "how?"]
    (tmp_path / "q.json").write_text(json.dumps([{"instruction": "do it", "query": "this one"}]))
    assert read_queries(str(tmp_path / "q.json")) == ["this one"]
    assert read_queries(str(tmp_path / "q.json"), column="instruction") == ["do it"]


def test_datasets_saved_to_disk(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"query": ["x?", "y?"]}).save_to_disk(str(tmp_path / "ds"))
    assert read_queries(str(tmp_path / "ds")) == ["x?", "y?"]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([{"query": "ok"}, {"query": ""}, {"other": 1}], r"2 row\(s\) have a missing or empty 'query' field.*\[1, 2\]"),
        ([{"title": "no query column"}], "none of the query columns"),
        ([], "holds no rows"),
    ],
)
def test_bad_query_files(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        read_queries(write_jsonl(tmp_path / "q.jsonl", rows))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_queries(str(tmp_path / "absent.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"query": "a"}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_queries(str(tmp_path / "bad.jsonl"))


def test_training_pairs_need_both_columns(tmp_path, caplog):
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "q", "response": "r"}, {"query": "q2", "response": " "}])
    assert load_pairs(path) == {"query": ["q"], "response": ["r"]}  # an empty answer is skipped, with a warning
    assert "1 pair(s)" in caplog.text
    with pytest.raises(ValueError, match="every response is empty"):
        load_pairs(write_jsonl(tmp_path / "e.jsonl", [{"query": "q", "response": ""}]))
    with pytest.raises(ValueError, match="'response'"):
        load_pairs(write_jsonl(tmp_path / "m.jsonl", [{"query": "q", "response": "r"}, {"query": "q2"}]))
    with pytest.raises(ValueError, match="'query'"):
        load_pairs(write_jsonl(tmp_path / "p2.jsonl", [{"question": "q", "answer": "r"}]))
    with pytest.raises(ValueError, match="'query'"):
        load_pairs(write_jsonl(tmp_path / "p3.jsonl", [{"query": " ", "response": "r"}]))
