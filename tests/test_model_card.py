"""Model cards: the saved README tells how to load and use an LLM2Vec-Gen model, and survives a reload."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import create_model
from st_llm2vec_gen.model_card import LLM2VecGenModelCardData, use_model_card


@pytest.fixture(scope="module")
def model(llama_path):
    return create_model(llama_path, num_tokens=2, max_seq_length=32)


def test_saved_card_has_a_working_usage_section(model, llama_path, tmp_path):
    model.save(str(tmp_path / "m"))
    card = (tmp_path / "m" / "README.md").read_text()
    for expected in (
        'SentenceTransformer("sentence_transformers_model_id", trust_remote_code=True)',
        "encode_query(",
        "encode_document(",
        "model[0].decode(",
        llama_path,
        "| `query` | Generate a passage",
        "llm2vec-gen",
    ):
        assert expected in card, expected
    assert "referred to, not stored" in card


def test_self_contained_card_says_so(model, tmp_path):
    model[0].store_backbone = True
    try:
        model.save(str(tmp_path / "m"))
    finally:
        model[0].store_backbone = False
    assert "loads with sentence-transformers alone" in (tmp_path / "m" / "README.md").read_text()


def test_hub_id_goes_into_the_snippet(model, tmp_path):
    model.save(str(tmp_path / "m"), model_name="org/llm2vec-gen-tiny")
    assert (
        'SentenceTransformer("org/llm2vec-gen-tiny", trust_remote_code=True)'
        in (tmp_path / "m" / "README.md").read_text()
    )
    model.model_card_data.model_id = None


def test_use_model_card_upgrades_a_loaded_model(model, tmp_path):
    model.save(str(tmp_path / "m"))
    loaded = SentenceTransformer(str(tmp_path / "m"), trust_remote_code=True)
    assert not isinstance(loaded.model_card_data, LLM2VecGenModelCardData)
    table = "| method | STS |\n|---|---|\n| llm2vec_gen | 52.2 |"
    card = use_model_card(loaded, recipe={"learning_rate": 3e-4}, training_data="two pairs", evaluation=table)
    assert loaded.model_card_data is card and card.model is loaded
    loaded._model_card_text = None  # as after training: the card is generated, not copied
    loaded.save(str(tmp_path / "again"))
    text = (tmp_path / "again" / "README.md").read_text()
    assert "learning_rate: 0.0003" in text and "Training data: two pairs" in text and "trust_remote_code=True" in text
    assert "Evaluation:\n\n" + table in text
