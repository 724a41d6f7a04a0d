"""FastGreedy against the backbone's own ``generate`` (TransformersEngine), on tiny random backbones in float32.

Greedy decoding is deterministic: the fast path must give the same tokens, the same end-of-answer decisions (any of
the model's end ids) and the same truncation flags, in input order, whatever the batch size, the prompt lengths or
the order in which it works through the queries.
"""

from __future__ import annotations

import pytest
from tiny_models import save_chat_backbone

from st_llm2vec_gen.generation.engines import Generation, GenerationSettings, TransformersEngine, chat_prompts
from st_llm2vec_gen.generation.fast_greedy import FastGreedy, supports
from st_llm2vec_gen.models.backbones import load_backbone

QUERIES = [
    "Where do polar bears live?",
    "Capital of France?",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen. Summarize the following passage "
    "about the history of the printing press, then generate a passage that answers this question.",
    "Hi",
    "Why?",
    "A transformer is a neural network built from attention and feed-forward layers.",
    "The capital of France is Paris, a city on the river Seine. Where do penguins live?",
    "Summarize",
    "Polar bears live in the Arctic, on sea ice and snow near the North Pole.",
]


@pytest.fixture(scope="module", params=["llama", "qwen3"])
def backbone(request, tmp_path_factory):
    """A tiny random chat backbone in float32 whose end ids are a list: its EOS and a token it often writes."""
    path = save_chat_backbone(tmp_path_factory.mktemp(f"fast-{request.param}"), request.param)
    model, tokenizer = load_backbone(path, {"dtype": "float32"})
    firsts: dict[int, set[int]] = {}  # token -> the steps at which it first appears in an answer
    for query in QUERIES:
        prompt = tokenizer(chat_prompts(tokenizer, [query]), add_special_tokens=False, return_tensors="pt")
        new = model.generate(**prompt, max_new_tokens=12, do_sample=False)[0, prompt["input_ids"].shape[1] :]
        tokens = new.tolist()
        for token in set(tokens):
            firsts.setdefault(token, set()).add(tokens.index(token))
    stop = max(firsts, key=lambda t: (len(firsts[t]), -t))  # ends answers at the most different steps
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, stop]
    return model, tokenizer


def generate(model, tokenizer, queries, max_new_tokens, batch_size, max_query_length=512) -> list[Generation]:
    settings = GenerationSettings(
        max_new_tokens=max_new_tokens, batch_size=batch_size, max_query_length=max_query_length
    )
    return TransformersEngine(model, tokenizer).answer(queries, settings)


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_same_answers_as_generate(backbone, batch_size):
    model, tokenizer = backbone
    expected = generate(model, tokenizer, QUERIES, 12, batch_size)
    assert FastGreedy(model, tokenizer).answer(QUERIES, 12, batch_size) == expected
    same_batches = FastGreedy(model, tokenizer, sort_by_length=False, refill_min=batch_size, compact=False)
    assert same_batches.answer(QUERIES, 12, batch_size) == expected


def test_end_ids_and_truncation(backbone):
    """Answers end at any of the end ids (a list) at different steps; the others are cut and flagged."""
    model, tokenizer = backbone
    fast = FastGreedy(model, tokenizer)
    answers = fast.answer(QUERIES, 12, 4)
    assert answers == generate(model, tokenizer, QUERIES, 12, 4)
    ended = [length for length, a in zip(fast.lengths, answers) if not a.truncated]
    assert len(set(ended)) > 1 and min(ended) < 12  # answers ended early, at several steps
    cut = [length for length, a in zip(fast.lengths, answers) if a.truncated]
    assert cut and set(cut) == {12}  # the others ran to max_new_tokens and are flagged
    one = fast.answer(QUERIES, 1, 4)  # the first token only: ends only if that token is an end id
    assert one == generate(model, tokenizer, QUERIES, 1, 4)


def test_input_order_and_batch_size_invariance(backbone):
    model, tokenizer = backbone
    fast = FastGreedy(model, tokenizer)
    answers = {size: fast.answer(QUERIES, 10, size) for size in (1, 4, 9)}
    assert all(a == answers[1] for a in answers.values())
    alone = [fast.answer([query], 10, 1)[0] for query in QUERIES]
    assert alone == answers[1]
    order = [4, 0, 8, 2, 6, 1, 3, 7, 5]
    assert fast.answer([QUERIES[i] for i in order], 10, 3) == [answers[1][i] for i in order]


def test_refill_and_compaction(backbone):
    """More queries than rows: finished rows take the next queries (a longer prompt grows the cache), then the batch
    shrinks; answers unchanged."""
    model, tokenizer = backbone
    queries = (QUERIES[3:] + QUERIES[:3]) * 2  # in input order, the longest prompt comes after shorter ones
    expected = generate(model, tokenizer, queries, 12, 4)
    for refill_min, compact, sort in ((1, True, True), (2, False, True), (1, True, False)):
        fast = FastGreedy(model, tokenizer, sort_by_length=sort, refill_min=refill_min, compact=compact)
        assert fast.answer(queries, 12, 4) == expected
        assert fast.stats["prefills"] > len(queries) // 4  # rows were refilled, not only whole batches


def test_query_cut_before_templating(backbone):
    model, tokenizer = backbone
    expected = generate(model, tokenizer, QUERIES, 8, 4, max_query_length=3)
    assert FastGreedy(model, tokenizer).answer(QUERIES, 8, 4, max_query_length=3) == expected
    assert expected != generate(model, tokenizer, QUERIES, 8, 4)


def test_bfloat16_with_generates_batches_is_identical(tmp_path):
    """In bf16 the step mirrors the model's operations (and prepacked products are used only where bit-identical):
    with generate's own batches the answers are the same to the last token."""
    model, tokenizer = load_backbone(save_chat_backbone(tmp_path), {"dtype": "bfloat16"})
    expected = generate(model, tokenizer, QUERIES, 12, 4)
    fast = FastGreedy(model, tokenizer, sort_by_length=False, refill_min=4, compact=False)
    assert fast.answer(QUERIES, 12, 4) == expected


def test_empty_input_bad_sizes_and_unsupported_models(backbone):
    model, tokenizer = backbone
    fast = FastGreedy(model, tokenizer)
    assert fast.answer([], 8) == []
    with pytest.raises(ValueError, match="must be >= 1"):
        fast.answer(QUERIES, 0)
    model.config.use_sliding_window = True  # a sliding window is not what the step implements
    try:
        assert not supports(model)
        with pytest.raises(ValueError, match="TransformersEngine"):
            FastGreedy(model, tokenizer)
    finally:
        model.config.use_sliding_window = False
    assert supports(model)


def test_missing_pad_token_becomes_eos(backbone):
    model, tokenizer = backbone
    expected = generate(model, tokenizer, QUERIES[:3], 6, 2)
    pad = tokenizer.pad_token
    tokenizer.pad_token = None
    try:
        FastGreedy(model, tokenizer)
        assert tokenizer.pad_token == tokenizer.eos_token
        assert FastGreedy(model, tokenizer).answer(QUERIES[:3], 6, 2) == expected  # padding is masked either way
    finally:
        tokenizer.pad_token = pad
