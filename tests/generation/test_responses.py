"""Response generation: one engine interface, resumable append-only output, settings recorded when rows land."""

from __future__ import annotations

import copy
import json
import os

import pytest
from tiny_models import CHAT_TEMPLATE

from st_llm2vec_gen.generation.engines import Generation, GenerationSettings, TransformersEngine, chat_prompts
from st_llm2vec_gen.generation.responses import answer, generate_responses
from st_llm2vec_gen.models.backbones import load_backbone

QUERIES = ["Where do polar bears live?", "Capital of France?", "How do plants make sugar from sunlight?", "Hi", "Why?"]
SETTINGS = GenerationSettings(max_new_tokens=5, batch_size=2)


@pytest.fixture(scope="module")
def engine(llama_path):
    model, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = CHAT_TEMPLATE
    return TransformersEngine(model, tokenizer)


class EchoEngine:
    """A stand-in engine: answers instantly, or fails on a chosen call."""

    name = "echo"

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call

    def answer(self, queries, settings):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("out of memory")
        return [Generation(q.upper(), truncated=len(q) > 10) for q in queries]

    def model_decoding(self):
        return {"do_sample": True, "temperature": 0.6}


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_batched_answers_equal_single_answers(engine):
    batched = engine.answer(QUERIES, SETTINGS)
    assert batched == [engine.answer([q], SETTINGS)[0] for q in QUERIES]
    assert all(isinstance(g, Generation) for g in batched)
    assert answer(engine.backbone, engine.tokenizer, QUERIES, SETTINGS) == [g.text for g in batched]  # texts only


def test_truncated_means_cut_at_max_new_tokens(engine):
    (first,) = engine.answer(["Hi"], GenerationSettings(max_new_tokens=1))
    assert first.truncated  # a random model does not end after one token
    prompt = engine.tokenizer(chat_prompts(engine.tokenizer, ["Hi"]), add_special_tokens=False, return_tensors="pt")
    first_id = engine.backbone.generate(**prompt, max_new_tokens=1, do_sample=False)[0, -1].item()
    saved = copy.deepcopy(engine.backbone.generation_config)
    try:
        engine.backbone.generation_config.eos_token_id = [2, first_id]  # that first token now ends the answer
        (ended,) = engine.answer(["Hi"], GenerationSettings(max_new_tokens=5))
    finally:
        engine.backbone.generation_config = saved
    assert not ended.truncated


def test_interrupted_run_resumes_in_place_without_loss_or_duplicates(engine, tmp_path):
    out = str(tmp_path / "responses.jsonl")
    reference = generate_responses(engine, QUERIES, str(tmp_path / "ref.jsonl"), SETTINGS)
    generate_responses(engine, QUERIES[:3], out, SETTINGS)  # a first run that stopped early ...
    complete = open(out, "rb").read()
    inode = os.stat(out).st_ino
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"id": 3, "query": "Hi", "resp')  # ... and was killed mid-line
    rows = generate_responses(engine, QUERIES, out, SETTINGS)
    assert rows == reference
    assert sorted(r["id"] for r in read(out)) == list(range(len(QUERIES)))  # each once, the cut line gone
    assert open(out, "rb").read().startswith(complete)  # the complete rows' bytes untouched ...
    assert os.stat(out).st_ino == inode  # ... in the same file, never rewritten or replaced
    assert all(isinstance(r["truncated"], bool) for r in rows)


def test_shards_cover_the_queries_once(engine, tmp_path):
    shards = [
        generate_responses(engine, QUERIES, str(tmp_path / f"s{i}.jsonl"), SETTINGS, shard=(i, 2)) for i in range(2)
    ]
    assert sorted(r["id"] for rows in shards for r in rows) == list(range(len(QUERIES)))
    with pytest.raises(ValueError, match="shard index"):
        generate_responses(EchoEngine(), QUERIES, str(tmp_path / "x.jsonl"), SETTINGS, shard=(2, 2))


def test_chosen_ids_first_then_the_rest_without_duplicates(tmp_path):
    out = str(tmp_path / "responses.jsonl")
    first = generate_responses(EchoEngine(), QUERIES, out, SETTINGS, ids=[3, 1, 3])
    assert [r["id"] for r in first] == [1, 3]
    rows = generate_responses(EchoEngine(), QUERIES, out, SETTINGS)  # the rest, in id order
    assert [r["id"] for r in rows] == list(range(len(QUERIES)))
    assert sorted(r["id"] for r in read(out)) == list(range(len(QUERIES)))
    assert [r["response"] for r in rows] == [q.upper() for q in QUERIES]
    with pytest.raises(ValueError, match="query indices"):
        generate_responses(EchoEngine(), QUERIES, out, SETTINGS, ids=[len(QUERIES)])


def test_refuses_to_mix_settings_or_queries(tmp_path):
    out = str(tmp_path / "responses.jsonl")
    generate_responses(EchoEngine(), QUERIES[:2], out, SETTINGS)
    with pytest.raises(ValueError, match="other settings"):
        generate_responses(EchoEngine(), QUERIES, out, GenerationSettings(max_new_tokens=9))
    with pytest.raises(ValueError, match="responses.jsonl:1 holds the answer to another query"):
        generate_responses(EchoEngine(), ["different"] * 3, out, SETTINGS)
    generate_responses(EchoEngine(), QUERIES, out, GenerationSettings(max_new_tokens=5, batch_size=3))  # batch size


def test_a_failed_first_batch_leaves_no_settings_to_block_the_rerun(tmp_path):
    out = str(tmp_path / "responses.jsonl")
    with pytest.raises(RuntimeError, match="out of memory"):
        generate_responses(EchoEngine(fail_on_call=1), QUERIES, out, GenerationSettings(max_new_tokens=4096))
    assert not os.path.exists(out + ".settings.json")
    rows = generate_responses(EchoEngine(), QUERIES, out, SETTINGS)  # the corrected rerun, other settings
    assert [r["response"] for r in rows] == [q.upper() for q in QUERIES]
    assert json.loads(open(out + ".settings.json").read())["max_new_tokens"] == 5
    assert sorted(os.listdir(tmp_path)) == ["responses.jsonl", "responses.jsonl.settings.json"]  # no temp files


def test_settings_of_an_output_without_rows_are_replaced(tmp_path, caplog):
    out = str(tmp_path / "responses.jsonl")
    (tmp_path / "responses.jsonl.settings.json").write_text(json.dumps({"max_new_tokens": 99, "generator": "old"}))
    generate_responses(EchoEngine(), QUERIES, out, SETTINGS)
    record = json.loads(open(out + ".settings.json").read())
    assert record["max_new_tokens"] == 5 and record["generator"] == "echo"
    assert "will be replaced" in caplog.text


def test_a_failure_after_rows_landed_keeps_them(tmp_path):
    out = str(tmp_path / "responses.jsonl")
    with pytest.raises(RuntimeError):
        generate_responses(EchoEngine(fail_on_call=2), QUERIES, out, SETTINGS)
    assert [r["id"] for r in read(out)] == [0, 1]
    engine = EchoEngine()
    rows = generate_responses(engine, QUERIES, out, SETTINGS)
    assert [r["id"] for r in rows] == list(range(5)) and engine.calls == 2  # only the 3 missing queries


def test_legacy_output_without_new_fields_resumes(tmp_path):
    out = tmp_path / "responses.jsonl"
    legacy = {k: v for k, v in vars(SETTINGS).items() if k != "use_model_generation_config"}
    (tmp_path / "responses.jsonl.settings.json").write_text(json.dumps({**legacy, "generator": "echo"}))
    out.write_text(json.dumps({"id": 0, "query": QUERIES[0], "response": "old"}) + "\n")
    rows = generate_responses(EchoEngine(), QUERIES, str(out), SETTINGS)
    assert rows[0] == {"id": 0, "query": QUERIES[0], "response": "old"} and rows[3]["truncated"] is False


def test_a_corrupt_complete_line_is_an_error_naming_it(tmp_path):
    out = tmp_path / "responses.jsonl"
    out.write_text(json.dumps({"id": 0, "query": QUERIES[0], "response": "a"}) + "\n{broken\n")
    before = out.read_bytes()
    with pytest.raises(ValueError, match="responses.jsonl:2 is not valid JSON"):
        generate_responses(EchoEngine(), QUERIES, str(out), SETTINGS)
    assert out.read_bytes() == before


def test_sampling_is_seeded(engine, tmp_path):
    sampled = GenerationSettings(max_new_tokens=5, batch_size=5, do_sample=True, seed=3)
    first = generate_responses(engine, QUERIES, str(tmp_path / "a.jsonl"), sampled)
    assert first == generate_responses(engine, QUERIES, str(tmp_path / "b.jsonl"), sampled)


def test_the_models_own_generation_config(engine, tmp_path):
    saved = copy.deepcopy(engine.backbone.generation_config)
    try:
        engine.backbone.generation_config.update(do_sample=True, temperature=1.3, top_k=7)
        settings = GenerationSettings(max_new_tokens=5, batch_size=5, use_model_generation_config=True)
        config = engine.generation_config(settings)
        assert config.do_sample and config.temperature == 1.3 and config.max_new_tokens == 5
        first = generate_responses(engine, QUERIES, str(tmp_path / "a.jsonl"), settings)
        assert first == generate_responses(engine, QUERIES, str(tmp_path / "b.jsonl"), settings)  # seeded
        record = json.loads(open(tmp_path / "a.jsonl.settings.json").read())
    finally:
        engine.backbone.generation_config = saved
    assert record["use_model_generation_config"] is True
    assert record["model_generation_config"]["temperature"] == 1.3 and record["model_generation_config"]["top_k"] == 7
    assert not engine.generation_config(SETTINGS).do_sample  # greedy stays the default


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_new_tokens": -1}, "max_new_tokens must be >= 1"),
        ({"do_sample": True, "use_model_generation_config": True}, "exclude each other"),
    ],
)
def test_settings_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenerationSettings(**kwargs)


def test_needs_a_chat_template(llama_path):
    model, tokenizer = load_backbone(llama_path)
    with pytest.raises(ValueError, match="chat template"):
        TransformersEngine(model, tokenizer).answer(QUERIES, SETTINGS)


def test_long_queries_are_cut_before_the_chat_template(engine):
    tokenizer = engine.tokenizer
    (prompt,) = chat_prompts(tokenizer, [" ".join(QUERIES * 50)], max_query_length=8)
    assert prompt.endswith("</s><s>")  # the assistant header survives the cut
    assert len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= 8 + 4


def test_tokenizer_without_pad_token(llama_path):
    model, tokenizer = load_backbone(llama_path)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.pad_token = None
    assert len(TransformersEngine(model, tokenizer).answer(QUERIES[:2], SETTINGS)) == 2


def test_answers_in_another_number_format_are_not_mixed_in(llama_path, tmp_path):
    """Greedy answers of a bf16 backbone differ from fp32's: the generator's name records the dtype."""
    out = str(tmp_path / "responses.jsonl")
    engines = {}
    for dtype in ("float32", "bfloat16"):
        model, tokenizer = load_backbone(llama_path, {"dtype": dtype})
        tokenizer.chat_template = CHAT_TEMPLATE
        engines[dtype] = TransformersEngine(model, tokenizer)
    assert engines["bfloat16"].name == engines["float32"].name + "@bfloat16"
    generate_responses(engines["float32"], QUERIES[:2], out, SETTINGS)
    with pytest.raises(ValueError, match="other settings.*--dtype"):
        generate_responses(engines["bfloat16"], QUERIES, out, SETTINGS)
