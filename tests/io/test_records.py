"""Reading records, queries, pairs and texts: formats, column detection, and clear errors on bad input."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen.io.records import Pairs, load_pairs, pick_text_column, read_queries, read_records, read_texts


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
        ([{"title": "no query column"}], "none of the columns"),
        ([], "holds no rows"),
    ],
)
def test_bad_query_files(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        read_queries(write_jsonl(tmp_path / "q.jsonl", rows))


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("bad.jsonl", '{"query": "a"}\n{not json\n', "bad.jsonl:2 is not valid JSON"),
        ("list.jsonl", '{"query": "a"}\n\n["a", "b"]\n', "list.jsonl:3 is a JSON list, not an object"),
        ("text.jsonl", '"just a string"\n', "text.jsonl:1 is a JSON str, not an object"),
        ("dict.json", '{"query": "a"}', "must hold a JSON list of objects"),
        ("items.json", '[{"query": "a"}, 3]', r"item 1 \(0-based\) is a JSON int"),
        ("broken.json", "[{", "broken.json is not valid JSON"),
        ("empty.csv", "query\n", "holds no rows"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=match):
        read_records(str(tmp_path / name))


def test_missing_files(tmp_path):
    for reader in (read_records, read_queries, read_texts, load_pairs):
        with pytest.raises(FileNotFoundError, match="absent"):
            reader(str(tmp_path / "absent.jsonl"))
    with pytest.raises(FileNotFoundError):
        read_texts(str(tmp_path / "absent.txt"))


def test_texts_for_encode_and_decode(tmp_path):
    (tmp_path / "t.txt").write_text("first text\n\nsecond text\n")
    assert read_texts(str(tmp_path / "t.txt")) == ["first text", "second text"]
    rows = [{"sentence": "s1", "label": 0}, {"sentence": "s2", "label": 1}]
    assert read_texts(write_jsonl(tmp_path / "s.jsonl", rows)) == ["s1", "s2"]
    assert read_texts(write_jsonl(tmp_path / "q.jsonl", [{"query": "q", "text": "t"}])) == ["t"]  # text first
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="holds no texts"):
        read_texts(str(tmp_path / "blank.txt"))


def test_training_pairs_need_both_columns(tmp_path, caplog):
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "q", "response": "r"}, {"query": "q2", "response": " "}])
    expected = Pairs(queries=["q"], responses=["r"], truncated=[False])
    assert load_pairs(path) == expected  # an empty answer is skipped, with a warning
    assert "1 pair(s)" in caplog.text
    assert load_pairs(path, limit=1) == expected
    with pytest.raises(ValueError, match="every response is empty"):
        load_pairs(write_jsonl(tmp_path / "e.jsonl", [{"query": "q", "response": ""}]))
    with pytest.raises(ValueError, match="'response'"):
        load_pairs(write_jsonl(tmp_path / "m.jsonl", [{"query": "q", "response": "r"}, {"query": "q2"}]))
    with pytest.raises(ValueError, match="'query'"):
        load_pairs(write_jsonl(tmp_path / "p2.jsonl", [{"question": "q", "answer": "r"}]))
    with pytest.raises(ValueError, match="'query'"):
        load_pairs(write_jsonl(tmp_path / "p3.jsonl", [{"query": " ", "response": "r"}]))


def test_generated_rows_with_truncation_flags_are_pairs(tmp_path):
    rows = [{"id": 0, "query": "q", "response": "r", "truncated": True}]
    pairs = load_pairs(write_jsonl(tmp_path / "r.jsonl", rows))
    assert pairs == Pairs(queries=["q"], responses=["r"], truncated=[True])


def test_pairs_from_several_files_gzip_included_skip_repeated_queries(tmp_path):
    import gzip

    first = write_jsonl(tmp_path / "a.jsonl", [{"query": "q1", "response": "a1"}, {"query": "q2", "response": "a2"}])
    second = tmp_path / "b.jsonl.gz"
    rows = [{"query": "q2", "response": "other"}, {"query": "q3", "response": "a3", "truncated": True}]
    with gzip.open(second, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    pairs = load_pairs([first, str(second)])
    assert pairs == Pairs(["q1", "q2", "q3"], ["a1", "a2", "a3"], [False, False, True]) and len(pairs) == 3
    assert load_pairs([first, str(second)], limit=2).queries == ["q1", "q2"]
    with pytest.raises(ValueError, match="No training data"):
        load_pairs([])


def test_pairs_refuse_lists_of_different_lengths():
    with pytest.raises(ValueError, match="as many responses and flags as queries"):
        Pairs(queries=["q1", "q2"], responses=["r1"], truncated=[False, False])


def test_one_text_column_rule_names_what_it_found():
    assert pick_text_column(["id", "sentence", "text"]) == "text"  # TEXT_COLUMNS order, not the file's
    assert pick_text_column({"id": 1, "body": "b"}, "body") == "body"
    assert pick_text_column(["question", "text"], candidates=("query", "question")) == "question"
    with pytest.raises(ValueError, match=r"c.csv has no column 'body'; it has \['id', 'text'\]"):
        pick_text_column(["text", "id"], "body", "c.csv")
    with pytest.raises(ValueError, match=r"none of the columns .*; found \['id', 'title'\]: name the column"):
        pick_text_column(["title", "id"])


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv"])
def test_a_byte_that_is_not_utf8_is_named_with_its_file_and_line_by_every_reader(tmp_path, suffix):
    from st_llm2vec_gen.corpus import CorpusInput

    lines = {".txt": [b"fine text", b"caf\xe9 latin-1"], ".jsonl": [b'{"text": "fine"}', b'{"text": "caf\xe9"}'],
             ".csv": [b"text", b"caf\xe9"]}[suffix]  # fmt: skip
    path = tmp_path / f"in{suffix}"
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected = rf"in\{suffix}:2: byte 0xe9 at column \d+ is not UTF-8"
    with pytest.raises(ValueError, match=expected):
        read_texts(str(path))  # decode --input, generate --queries
    with pytest.raises(ValueError, match=expected):
        CorpusInput(path=str(path)).count()  # encode --input


def test_file_limits_pin_each_file_so_a_grown_earlier_file_does_not_shift_the_later_ones(tmp_path):
    corpus = [{"query": f"c{i}", "response": f"r{i}"} for i in range(5)]
    extra = [{"query": "e0", "response": "x"}, {"query": "c1", "response": "dup"}, {"query": "e1", "response": "y"}]
    small = write_jsonl(tmp_path / "small.jsonl", corpus[:3])
    grown = write_jsonl(tmp_path / "grown.jsonl", corpus)  # the same file, later, with more rows
    other = write_jsonl(tmp_path / "other.jsonl", extra)
    before = load_pairs([small, other], limit=5)  # a total limit pins the rows only while `small` stays small
    assert before.queries == ["c0", "c1", "c2", "e0", "e1"]  # c1 read earlier: its second copy is skipped
    assert load_pairs([grown, other], limit=5).queries != before.queries
    assert load_pairs([grown, other], file_limits=[3, None]) == before
    assert load_pairs([grown, other], file_limits=[None, 1]).queries == ["c0", "c1", "c2", "c3", "c4", "e0"]
    assert load_pairs([grown, other], limit=4, file_limits=[3, None]).queries == before.queries[:4]
    with pytest.raises(ValueError, match="one per path"):
        load_pairs([grown, other], file_limits=[3])
    with pytest.raises(ValueError, match=">= 1"):
        load_pairs([grown, other], file_limits=[0, None])
