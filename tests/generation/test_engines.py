"""The vLLM engine's wiring, against a stand-in module with vLLM's interface (vLLM needs a GPU, not available here).

What is checked is our side of the contract: the same chat-templated token ids as the transformers engine, greedy
mapped to temperature 0, the model's own defaults on request, truncation from vLLM's finish reason, responses in query
order, and resumable output through ``generate_responses``.
"""

from __future__ import annotations

import inspect
import json
import sys
import types

import pytest
from tiny_models import CHAT_TEMPLATE
from transformers import AutoTokenizer

from st_llm2vec_gen.generation.engines import (
    Engine,
    Generation,
    GenerationSettings,
    TransformersEngine,
    VLLMEngine,
    chat_prompts,
)
from st_llm2vec_gen.generation.responses import generate_responses
from st_llm2vec_gen.models.backbones import load_backbone

QUERIES = ["Where do polar bears live?", "Capital of France?", "Why?"]


@pytest.fixture()
def fake_vllm(llama_path, monkeypatch):
    calls = []

    class LLM:
        def __init__(self, model, **kwargs):
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.tokenizer.chat_template = CHAT_TEMPLATE
            calls.append(("init", model, kwargs))

        def get_tokenizer(self):
            return self.tokenizer

        def get_default_sampling_params(self):  # what vLLM reads from the model's generation_config.json
            return types.SimpleNamespace(temperature=0.6, top_p=0.95, top_k=20, max_tokens=16, seed=None)

        def generate(self, prompts, params, use_tqdm=True):
            calls.append(("generate", prompts, params))
            answers = [f"  answer with {len(p['prompt_token_ids'])} prompt ids \n" for p in prompts]
            reasons = ["length" if len(p["prompt_token_ids"]) > 8 else "stop" for p in prompts]
            return [
                types.SimpleNamespace(outputs=[types.SimpleNamespace(text=a, finish_reason=r)])
                for a, r in zip(answers, reasons)
            ]

    module = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: types.SimpleNamespace(**kw))
    monkeypatch.setitem(sys.modules, "vllm", module)
    return calls


def test_same_prompt_ids_as_the_transformers_engine_and_greedy(fake_vllm, llama_path):
    engine = VLLMEngine(llama_path, dtype="bfloat16")
    settings = GenerationSettings(max_new_tokens=7)
    generations = engine.answer(QUERIES, settings)
    _, prompts, params = fake_vllm[-1]
    tokenizer = engine.tokenizer
    expected = tokenizer(chat_prompts(tokenizer, QUERIES), add_special_tokens=False)["input_ids"]
    assert [p["prompt_token_ids"] for p in prompts] == expected
    assert params.temperature == 0.0 and params.max_tokens == 7 and params.seed is None
    assert [g.text for g in generations] == [f"answer with {len(ids)} prompt ids" for ids in expected]
    assert [g.truncated for g in generations] == [len(ids) > 8 for ids in expected]  # finish_reason "length"
    assert fake_vllm[0] == ("init", llama_path, {"dtype": "bfloat16"})


def test_both_engines_implement_the_protocol(fake_vllm, llama_path):
    """A runtime_checkable Protocol only checks that the names exist: compare the signatures and the answers."""
    model, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = CHAT_TEMPLATE
    settings = GenerationSettings(max_new_tokens=3, batch_size=2)
    for engine in (VLLMEngine(llama_path), TransformersEngine(model, tokenizer)):
        assert isinstance(engine.name, str) and engine.name
        for method in ("answer", "model_decoding"):
            expected = inspect.signature(getattr(Engine, method)).parameters
            assert list(inspect.signature(getattr(engine, method)).parameters) == list(expected)[1:], method
        answers = engine.answer(QUERIES, settings)
        assert len(answers) == len(QUERIES) and all(isinstance(a, Generation) for a in answers)
        assert isinstance(engine.model_decoding(), dict)


def test_generate_responses_with_the_engine_resumes(fake_vllm, llama_path, tmp_path):
    out = str(tmp_path / "responses.jsonl")
    settings = GenerationSettings(max_new_tokens=5, batch_size=2, do_sample=True, seed=3)
    engine = VLLMEngine(llama_path)
    first = generate_responses(engine, QUERIES[:2], out, settings)
    rows = generate_responses(engine, QUERIES, out, settings)
    assert [r["query"] for r in rows] == QUERIES and rows[:2] == first
    assert all(isinstance(r["truncated"], bool) for r in rows)
    generated = [p for call in fake_vllm if call[0] == "generate" for p in call[1]]
    assert len(generated) == 3  # the third query only, on the second run
    params = fake_vllm[-1][2]
    assert params.seed == 3 + 2 and params.temperature == settings.temperature  # seed + the batch's first id
    record = json.loads(open(out + ".settings.json").read())
    assert record["generator"].startswith("vllm:")


def test_the_models_own_sampling_defaults(fake_vllm, llama_path, tmp_path):
    engine = VLLMEngine(llama_path)
    settings = GenerationSettings(max_new_tokens=5, batch_size=8, seed=4, use_model_generation_config=True)
    generate_responses(engine, QUERIES, str(tmp_path / "r.jsonl"), settings)
    params = fake_vllm[-1][2]
    assert (params.temperature, params.top_k, params.max_tokens, params.seed) == (0.6, 20, 5, 4)
    record = json.loads(open(tmp_path / "r.jsonl.settings.json").read())
    assert record["model_generation_config"] == {"temperature": 0.6, "top_p": 0.95, "top_k": 20}


def test_missing_vllm_names_the_install(monkeypatch, llama_path):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="pip install vllm"):
        VLLMEngine(llama_path)
