"""Generating on Ray Data: the rows of one-process ``generate`` (greedy), from Transformers actors and from
``ray.data.llm``'s vLLM processor (a stand-in with its interface: vLLM needs a GPU), resumable."""

from __future__ import annotations

import json
import sys
import types

import pytest
from tiny_models import save_chat_backbone

from st_llm2vec_gen.cli.main import main

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

QUERIES = [f"Question {i}: where do polar bears and penguins live, and why {'so ' * (i % 5)}far?" for i in range(10)]
SETTINGS = ["--max-new-tokens", "6", "--batch-size", "3"]


@pytest.fixture(scope="module")
def chat_backbone(tmp_path_factory) -> str:
    return save_chat_backbone(tmp_path_factory.mktemp("ray-chat-llama"))


@pytest.fixture(scope="module")
def one_process(chat_backbone, tmp_path_factory) -> tuple[list[dict], dict]:
    """Rows and settings record of one-process ``generate`` (Transformers, greedy)."""
    folder = tmp_path_factory.mktemp("one-process")
    queries = _queries_file(folder)
    out = folder / "responses.jsonl"
    assert main(["generate", "--queries", queries, "--output", str(out), "--backbone", chat_backbone, *SETTINGS]) == 0
    return _rows(out), json.loads((folder / "responses.jsonl.settings.json").read_text())


def _queries_file(folder) -> str:
    path = folder / "queries.jsonl"
    path.write_text("".join(json.dumps({"query": q}) + "\n" for q in QUERIES))
    return str(path)


def _rows(path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({row["id"] for row in rows}) == len(rows)  # no duplicates
    return sorted(rows, key=lambda row: row["id"])


def test_ray_actors_give_the_rows_of_one_process_generate_and_resume(ray_cluster, chat_backbone, one_process, tmp_path):
    rows, record = one_process
    out = tmp_path / "responses.jsonl"
    argv = ["generate", "--queries", _queries_file(tmp_path), "--output", str(out), "--backbone", chat_backbone,
            "--engine", "ray", "--actors", "2", "--cpus-per-actor", "0.5", *SETTINGS]  # fmt: skip
    out.write_text("".join(json.dumps(row) + "\n" for row in rows[:4]))  # as an interrupted run left it
    assert main(argv) == 0
    assert _rows(out) == rows and [r["id"] for r in _rows(out)[:4]] == [0, 1, 2, 3]
    assert json.loads((tmp_path / "responses.jsonl.settings.json").read_text()) == record


class FakeConfig:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def fake_vllm_stage(batch: dict, model: str) -> dict:
    """What ray.data.llm's vLLM stage returns, computed by greedy decoding with transformers, row by row."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backbone, tokenizer = AutoModelForCausalLM.from_pretrained(model), AutoTokenizer.from_pretrained(model)
    tokens, texts = [], []
    for prompt, params in zip(batch["tokenized_prompt"], batch["sampling_params"]):
        assert params["temperature"] == 0.0 and params["top_p"] == 1.0  # greedy, as VLLMEngine asks
        ids = torch.tensor([list(prompt)])
        with torch.inference_mode():
            out = backbone.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=params["max_tokens"], eos_token_id=2, pad_token_id=0)  # fmt: skip
        new = out[0, ids.shape[1] :].tolist()
        tokens.append(new)
        texts.append(tokenizer.decode(new, skip_special_tokens=True))
    return {**batch, "generated_tokens": tokens, "generated_text": texts}


@pytest.fixture
def fake_ray_llm(monkeypatch):
    built = []

    def build_processor(config, preprocess=None, postprocess=None):
        built.append(config)

        def processor(ds):
            ds = ds.map(preprocess).map_batches(fake_vllm_stage, fn_kwargs={"model": config.kwargs["model_source"]})
            return ds.map(postprocess)

        return processor

    module = types.SimpleNamespace(build_processor=build_processor, vLLMEngineProcessorConfig=FakeConfig)
    monkeypatch.setitem(sys.modules, "ray.data.llm", module)
    return built


def test_ray_vllm_processor_gets_our_prompts_and_gives_the_same_rows(
    ray_cluster, fake_ray_llm, chat_backbone, one_process, tmp_path
):
    rows, record = one_process
    out = tmp_path / "responses.jsonl"
    argv = ["generate", "--queries", _queries_file(tmp_path), "--output", str(out), "--backbone", chat_backbone,
            "--engine", "ray-vllm", "--actors", "2", "--dtype", "bfloat16", *SETTINGS]  # fmt: skip
    assert main(argv) == 0
    assert _rows(out) == rows
    config = fake_ray_llm[0].kwargs
    assert config["chat_template_stage"] is False and config["tokenize_stage"] is False  # our template, our ids
    assert config["engine_kwargs"] == {"dtype": "bfloat16"} and config["concurrency"] == 2
    settings = json.loads((tmp_path / "responses.jsonl.settings.json").read_text())
    assert settings["generator"].startswith("vllm:") and {**settings, "generator": None} == {
        **record,
        "generator": None,
    }
