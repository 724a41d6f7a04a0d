"""The format answers are generated in: float32 by default, even where the machine encodes in bf16, so that a greedy
answer does not depend on the queries answered beside it (in bf16 21 of 32 corpus answers changed between alone and
a batch of 32, in float32 none did); FastGreedy gives those float32 answers faster, under the same generator name."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import save_chat_backbone

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.generation.engines import GenerationSettings, TransformersEngine
from st_llm2vec_gen.generation.fast_engine import FastGreedyEngine, cpu_engine

QUERIES = [f"Question {i}: why do {'very ' * (i % 4)}polar bears live near the north pole?" for i in range(7)]
SETTINGS = GenerationSettings(max_new_tokens=6, batch_size=4)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    return save_chat_backbone(tmp_path_factory.mktemp("chat-llama"))


def test_generation_is_float32_on_a_bf16_machine_and_answers_do_not_depend_on_the_batch(backbone, monkeypatch):
    monkeypatch.setenv("ST_LLM2VEC_GEN_CPU_DTYPE", "bfloat16")  # the machine encodes in bf16
    engine = TransformersEngine.from_pretrained(backbone, device="cpu")
    assert engine.backbone.dtype == torch.float32 and "@" not in engine.name
    batched = engine.answer(QUERIES, SETTINGS)
    assert [engine.answer([q], SETTINGS)[0] for q in QUERIES] == batched
    fast = cpu_engine(engine)
    assert isinstance(fast, FastGreedyEngine) and fast.name == engine.name  # it resumes files generate wrote
    assert fast.answer(QUERIES, SETTINGS) == batched


def test_cli_generate_default_and_without_fast_greedy_write_the_same_rows(backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("ST_LLM2VEC_GEN_CPU_DTYPE", "bfloat16")
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"query": q}) + "\n" for q in QUERIES))
    common = ["generate", "--queries", str(queries), "--backbone", backbone, "--max-new-tokens", "6",
              "--batch-size", "3"]  # fmt: skip
    assert main([*common, "--output", str(tmp_path / "fast.jsonl")]) == 0
    assert main([*common, "--output", str(tmp_path / "plain.jsonl"), "--no-fast-greedy"]) == 0
    assert (tmp_path / "fast.jsonl").read_text() == (tmp_path / "plain.jsonl").read_text()
    settings = [json.loads((tmp_path / f"{n}.jsonl.settings.json").read_text()) for n in ("fast", "plain")]
    assert settings[0] == settings[1]
