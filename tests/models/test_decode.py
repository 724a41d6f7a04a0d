"""Decoding the soft prompt back to text, and the logit lens, checked against plain reference computations."""

from __future__ import annotations

import pytest
import torch

from st_llm2vec_gen import LLM2VecGen
from st_llm2vec_gen.models.decoding import LENS_REFERENCE

TEXTS = ["Where do polar bears live?", "Paris is the capital of France and has a river.", "Sugar"]


@pytest.fixture()
def module(backbone_path):
    return LLM2VecGen(backbone_path, num_tokens=3, max_seq_length=40)


def greedy_without_cache(module: LLM2VecGen, text: str, max_new_tokens: int) -> str:
    """Reference: recompute the whole sequence at every step from R(h) and the generated tokens' embeddings."""
    with torch.no_grad():
        soft = module(module.preprocess([text]))["soft_prompt"]  # (1, N, H)
        embed = module.backbone.get_input_embeddings()
        ids: list[int] = []
        for _ in range(max_new_tokens):
            inputs = torch.cat([soft, embed(torch.tensor([ids], dtype=torch.long))], dim=1)
            next_id = module.backbone(inputs_embeds=inputs, use_cache=False).logits[0, -1].argmax().item()
            if next_id == module.tokenizer.eos_token_id:
                break
            ids.append(next_id)
    return module.tokenizer.decode(ids, skip_special_tokens=True).strip()


def test_decode_matches_greedy_reference_and_is_batch_invariant(module):
    batched = module.decode(TEXTS, max_new_tokens=8)
    assert len(batched) == len(TEXTS) and all(isinstance(t, str) for t in batched)
    for text, decoded in zip(TEXTS, batched):
        assert decoded == greedy_without_cache(module, text, 8)
        assert module.decode([text], max_new_tokens=8) == [decoded]


def test_decode_respects_max_new_tokens(module):
    (short,) = module.decode(TEXTS[:1], max_new_tokens=2)
    assert len(module.tokenizer(short, add_special_tokens=False)["input_ids"]) <= 3  # re-tokenising may split


def test_decode_uses_the_prompt(module):
    prompt = "Summarize the following passage:"
    assert module.decode(TEXTS[:1], prompt=prompt, max_new_tokens=6) == [
        greedy_without_cache(module, prompt + " " + TEXTS[0], 6)
    ]


def test_logit_lens_matches_lm_head_of_compression_states(module):
    top = module.logit_lens(TEXTS[:2], top_k=5, contrast=False)
    assert [len(row) for row in top] == [5, 5]
    with torch.no_grad():
        states = module(module.preprocess(TEXTS[:2]))["compression_states"]
        probs = module.backbone.lm_head(states).softmax(-1).mean(1)  # (B, V)
    for row, p in zip(top, probs):
        expected = [module.tokenizer.decode([i]).strip() for i in p.topk(5).indices.tolist()]
        assert row == expected


def test_contrastive_logit_lens_subtracts_the_reference_texts(module):
    top = module.logit_lens(TEXTS[:2], top_k=5)
    with torch.no_grad():

        def mean_logp(texts):
            states = module(module.preprocess(list(texts)))["compression_states"]
            return module.backbone.lm_head(states).float().log_softmax(-1).mean(1)  # (B, V)

        scores = mean_logp(TEXTS[:2]) - mean_logp(LENS_REFERENCE).mean(0)
    for row, s in zip(top, scores):
        assert row == [module.tokenizer.decode([i]).strip() for i in s.topk(5).indices.tolist()]
    assert top != module.logit_lens(TEXTS[:2], top_k=5, contrast=False)
    assert module.logit_lens(TEXTS[1:2], top_k=5) == top[1:]  # the reference is fixed: batch-independent


def test_decode_rejects_bad_input(module):
    with pytest.raises(ValueError, match="empty list"):
        module.decode([])
    with pytest.raises(TypeError, match="Text 0"):
        module.logit_lens([3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": -1}, "batch_size must be an integer of at least 1"),
        ({"batch_size": 0}, "batch_size must be an integer of at least 1"),
        ({"max_new_tokens": 10**9}, "max_new_tokens must be an integer of at least 1 and at most 4096"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
    ],
)
def test_decode_refuses_bad_arguments(module, kwargs, match):
    with pytest.raises(ValueError, match=match):
        module.decode(TEXTS, **kwargs)


@pytest.mark.parametrize("top_k", [0, -3, 10**6])
def test_logit_lens_refuses_top_k_out_of_range(module, top_k):
    with pytest.raises(ValueError, match=f"top_k must be an integer of at least 1 and at most {module.vocab_size}"):
        module.logit_lens(TEXTS, top_k=top_k)
