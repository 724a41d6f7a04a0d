"""Response generation: chat template, batching, resumability and sharding, on a tiny random backbone."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen.models.backbones import load_backbone
from st_llm2vec_gen.responses import GenerationSettings, answer, generate_responses

QUERIES = ["Where do polar bears live?", "Capital of France?", "How do plants make sugar from sunlight?", "Hi", "Why?"]
TEMPLATE = "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}{% if add_generation_prompt %}<s>{% endif %}"
SETTINGS = GenerationSettings(max_new_tokens=5, batch_size=2)


@pytest.fixture(scope="module")
def backbone(llama_path):
    model, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = TEMPLATE
    return model, tokenizer


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_batched_answers_equal_single_answers(backbone):
    model, tokenizer = backbone
    batched = answer(model, tokenizer, QUERIES, SETTINGS)
    assert batched == [answer(model, tokenizer, [q], SETTINGS)[0] for q in QUERIES]


def test_interrupted_run_resumes_without_loss_or_duplicates(backbone, tmp_path):
    model, tokenizer = backbone
    out = str(tmp_path / "responses.jsonl")
    reference = generate_responses(model, tokenizer, QUERIES, str(tmp_path / "ref.jsonl"), SETTINGS)
    generate_responses(model, tokenizer, QUERIES[:3], out, SETTINGS)  # a first run that stopped early ...
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"id": 3, "query": "Hi", "resp')  # ... and was killed mid-line
    rows = generate_responses(model, tokenizer, QUERIES, out, SETTINGS)
    assert rows == reference
    assert sorted(r["id"] for r in read(out)) == list(range(len(QUERIES)))  # each once, the cut line replaced


def test_shards_cover_the_queries_once(backbone, tmp_path):
    model, tokenizer = backbone
    shards = [
        generate_responses(model, tokenizer, QUERIES, str(tmp_path / f"s{i}.jsonl"), SETTINGS, shard=(i, 2))
        for i in range(2)
    ]
    assert sorted(r["id"] for rows in shards for r in rows) == list(range(len(QUERIES)))


def test_refuses_to_mix_settings_or_queries(backbone, tmp_path):
    model, tokenizer = backbone
    out = str(tmp_path / "responses.jsonl")
    generate_responses(model, tokenizer, QUERIES[:2], out, SETTINGS)
    with pytest.raises(ValueError, match="other settings"):
        generate_responses(model, tokenizer, QUERIES, out, GenerationSettings(max_new_tokens=9))
    with pytest.raises(ValueError, match="other queries"):
        generate_responses(model, tokenizer, ["different"] * 3, out, SETTINGS)


def test_sampling_is_seeded(backbone, tmp_path):
    model, tokenizer = backbone
    sampled = GenerationSettings(max_new_tokens=5, batch_size=5, do_sample=True, seed=3)
    first = generate_responses(model, tokenizer, QUERIES, str(tmp_path / "a.jsonl"), sampled)
    assert first == generate_responses(model, tokenizer, QUERIES, str(tmp_path / "b.jsonl"), sampled)


def test_needs_a_chat_template(llama_path):
    model, tokenizer = load_backbone(llama_path)
    with pytest.raises(ValueError, match="chat template"):
        answer(model, tokenizer, QUERIES, SETTINGS)


def test_long_queries_are_cut_before_the_chat_template(backbone):
    model, tokenizer = backbone
    from st_llm2vec_gen.responses import chat_prompts

    (prompt,) = chat_prompts(tokenizer, [" ".join(QUERIES * 50)], max_query_length=8)
    assert prompt.endswith("</s><s>")  # the assistant header survives the cut
    assert len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= 8 + 4


def test_tokenizer_without_pad_token(llama_path):
    model, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = TEMPLATE
    tokenizer.pad_token = None
    assert len(answer(model, tokenizer, QUERIES[:2], SETTINGS)) == 2
