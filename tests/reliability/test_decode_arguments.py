"""Bad arguments to ``decode``, ``logit_lens`` and ``generate_from_soft_prompt``: named errors before any work.

The range checks of batch_size, max_new_tokens and top_k are in tests/models/test_decode.py; these are the rest.
"""

from __future__ import annotations

import pytest
import torch

TEXTS = ["Where do polar bears live?", "Paris"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer"),
        ({"max_new_tokens": "8"}, "max_new_tokens must be an integer"),
        ({"max_new_tokens": True}, "max_new_tokens must be an integer"),
        ({"batch_size": None}, "batch_size must be an integer"),
    ],
)
def test_decode_refuses_arguments_of_the_wrong_type(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model[0].decode(TEXTS, **kwargs)


@pytest.mark.parametrize("top_k", [2.0, "5", None, False])
def test_logit_lens_refuses_a_top_k_that_is_not_an_integer(model, top_k):
    with pytest.raises(ValueError, match="top_k must be an integer"):
        model[0].logit_lens(TEXTS, top_k=top_k)


@pytest.mark.parametrize("method", ["decode", "logit_lens"])
@pytest.mark.parametrize(
    ("texts", "error", "match"),
    [(None, TypeError, "got None"), ([], ValueError, "empty list"), (["a", " "], ValueError, "Text 1 is empty")],
)
def test_decode_and_logit_lens_check_their_texts(model, method, texts, error, match):
    with pytest.raises(error, match=match):
        getattr(model[0], method)(texts)


def test_a_prompt_that_is_not_text_is_refused(model):
    with pytest.raises(TypeError, match="prompt must be a string"):
        model[0].decode(TEXTS, prompt=["Summarize:"], max_new_tokens=2)


@pytest.mark.parametrize("shape", [(1, 2, 7), (2, 32), (1, 0, 32)])
def test_soft_prompts_of_the_wrong_shape_are_refused(model, shape):
    with pytest.raises(ValueError, match=r"soft_prompt must have shape \(batch, tokens, 32\)"):
        model[0].generate_from_soft_prompt(torch.zeros(shape), max_new_tokens=2)


def test_the_upper_bound_of_max_new_tokens_also_guards_soft_prompts(model):
    with pytest.raises(ValueError, match="at most 4096"):
        model[0].generate_from_soft_prompt(torch.zeros(1, 2, 32), max_new_tokens=10**6)


def test_unusual_texts_decode_to_strings(model):
    texts = ["</s>", "<pad> <s>", "\x00\x07", "x" * 20_000]  # special-token strings, control characters, a cut text
    decoded = model[0].decode(texts, max_new_tokens=3)
    lens = model[0].logit_lens(texts, top_k=3)
    assert [type(t) for t in decoded] == [str] * 4 and [len(words) for words in lens] == [3] * 4


def test_top_k_equal_to_the_vocabulary_is_allowed(model):
    (words,) = model[0].logit_lens(TEXTS[:1], top_k=model[0].vocab_size, contrast=False)
    assert len(words) == model[0].vocab_size
