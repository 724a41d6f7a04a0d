"""Bad and unusual texts given to ``encode``: each is a named error or a correct, finite embedding."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = ["Where do polar bears live?", "Paris is the capital of France."]


def alone_equals_batch(model, texts: list[str]) -> np.ndarray:
    """Embeds ``texts`` in one batch, checks each row equals the text embedded alone and is finite."""
    batch = model.encode(texts)
    assert np.isfinite(batch).all()
    for i, text in enumerate(texts):
        np.testing.assert_allclose(model.encode([text])[0], batch[i], rtol=0, atol=1e-5)
    return batch


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (None, TypeError, "Text 0 is a NoneType, expected a string"),  # ST wraps a lone input in a list
        (3, TypeError, "Text 0 is a int, expected a string"),
        ([b"bytes"], TypeError, "Text 0 is a bytes, expected a string"),
        ([{"text": "a"}], TypeError, "Text 0 is a dict, expected a string"),
        (["fine", 2.5], TypeError, "Text 1 is a float"),
        ((t for t in TEXTS), TypeError, "Text 0 is a generator"),
        ([""], ValueError, "Text 0 is empty"),
        (["ok", " \t\n"], ValueError, r"is empty \(. \\t\\n.\)"),  # ST sorts by length: the text is shown
        (["\u3000\xa0"], ValueError, "Text 0 is empty"),  # Unicode spaces are white space too
    ],
)
def test_bad_texts_are_named(model, bad, error, match):
    with pytest.raises(error, match=match):
        model.encode(bad)


def test_empty_list_gives_an_empty_result(model):
    assert model.encode([]).shape == (0,)  # sentence-transformers returns before the module is called


def test_one_string_gives_one_vector(model):
    np.testing.assert_allclose(model.encode(TEXTS[0]), model.encode(TEXTS[:1])[0], rtol=0, atol=1e-6)


def test_tuples_and_numpy_arrays_of_strings(model):
    expected = model.encode(TEXTS)
    np.testing.assert_allclose(model.encode(tuple(TEXTS)), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.encode(np.array(TEXTS)), expected, rtol=0, atol=1e-6)


def test_control_characters_and_unusual_unicode(model):
    texts = ["\x00\x01\x07", "tab\tcarriage\rreturn\r\nline", "\u200b\u202eright-to-left", "🐻‍❄️ 北极熊", "\x00"]
    alone_equals_batch(model, texts)


def test_special_token_strings_are_text_like_any_other(model):
    # The tokenizer turns "</s>" and "<pad>" into its special ids (as transformers does for every model); the
    # attention mask, not the id, decides what is padding, so the results stay finite and batch-invariant.
    texts = ["</s>", "<pad>", "<s>", "<|im_end|>", "<|endoftext|>", "<pad><pad></s> text after"]
    alone_equals_batch(model, texts)


@pytest.mark.parametrize("text", ["polar bears " * 8_334, "x" * 100_000], ids=["words", "one-word"])
def test_a_100k_character_text_is_cut_not_refused(model, text):
    module = model[0]
    assert len(text) >= 100_000
    ids = module.preprocess([text])["input_ids"]
    assert ids.shape == (1, module.max_seq_length)
    head = module.tokenizer.decode(module.tokenizer(text)["input_ids"][: module.max_seq_length - module.num_tokens])
    np.testing.assert_allclose(model.encode([text]), model.encode([head]), rtol=0, atol=1e-5)


def test_ten_thousand_texts_in_one_call(model):
    texts = [f"text number {i} about bears" for i in range(10_000)]
    embeddings = model.encode(texts, batch_size=500)
    assert embeddings.shape == (10_000, model.get_embedding_dimension()) and np.isfinite(embeddings).all()
    np.testing.assert_allclose(embeddings[[0, 4_321, 9_999]], model.encode([texts[i] for i in (0, 4_321, 9_999)]),
                               rtol=0, atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one_is_refused_by_sentence_transformers(model, batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size}"):
        model.encode(TEXTS, batch_size=batch_size)


def test_unknown_prompt_name_is_refused(model):
    with pytest.raises(ValueError, match="Prompt name 'nope' not found"):
        model.encode(TEXTS, prompt_name="nope")


def test_a_prompt_that_is_not_text_is_refused(model):
    with pytest.raises(TypeError, match="prompt must be a string"):
        model[0].preprocess(TEXTS, prompt=3)
    with pytest.raises(TypeError):  # sentence-transformers fails first, on its own `prompt + text` arithmetic
        model.encode(TEXTS, prompt=3)
