"""One generation job: the engine a choice names, answering one shard into that shard's file."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen.generation.engines import Generation, GenerationSettings
from st_llm2vec_gen.generation.run import ENGINES, EngineChoice, generate

QUERIES = [f"question {i}?" for i in range(5)]
SETTINGS = GenerationSettings(max_new_tokens=5, batch_size=2)


class EchoEngine:
    """A stand-in engine: answers each query with itself in capitals."""

    name = "echo"

    def answer(self, queries, settings):
        return [Generation(q.upper(), truncated=False) for q in queries]

    def model_decoding(self):
        return {}


@pytest.fixture
def echo(monkeypatch):
    """Every in-process engine answers with :class:`EchoEngine`; the choices it was asked for are kept."""
    loaded = []

    def load(choice):
        loaded.append(choice)
        return EchoEngine()

    monkeypatch.setattr(EngineChoice, "load", load)
    return loaded


def test_each_shard_answers_into_its_own_file(echo, tmp_path):
    out = str(tmp_path / "r.jsonl")
    for index in (0, 1):
        path, rows = generate(EngineChoice(), QUERIES, out, SETTINGS, shard=(index, 2))
        assert path == str(tmp_path / f"r.shard-{index}-of-2.jsonl")
        assert [r["id"] for r in rows] == list(range(index, 5, 2))
        assert [json.loads(line)["id"] for line in open(path)] == [r["id"] for r in rows]
    assert not (tmp_path / "r.jsonl").exists()
    path, rows = generate(EngineChoice(), QUERIES, out, SETTINGS, ids=[3])
    assert path == out and [r["response"] for r in rows] == ["QUESTION 3?"]


def test_a_bad_output_or_engine_fails_before_any_model_loads(echo, tmp_path):
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        generate(EngineChoice(), QUERIES, str(tmp_path / "folder.jsonl"), SETTINGS)
    with pytest.raises(ValueError, match="Unknown engine 'tpu'.*transformers, vllm, ray, ray-vllm"):
        EngineChoice(kind="tpu")
    assert not echo


def test_ray_engines_live_in_actors_not_in_this_process():
    assert [EngineChoice(kind=k).on_ray for k in ENGINES] == [False, False, True, True]
    with pytest.raises(ValueError, match="Ray actors"):
        EngineChoice(kind="ray").load()
