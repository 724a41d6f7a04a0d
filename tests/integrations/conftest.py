"""Fixtures for tests/integrations: a tiny saved LLM2Vec-Gen model, its SentenceTransformer, and texts to embed."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import create_model


@pytest.fixture(scope="module")
def model_path(llama_path, tmp_path_factory) -> str:
    """A tiny random LLM2Vec-Gen model saved with the default prompts (the head only, backbone by reference)."""
    path = tmp_path_factory.mktemp("llm2vec_gen_integration")
    create_model(llama_path, num_tokens=3, max_seq_length=40, seed=1).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def st_model(model_path) -> SentenceTransformer:
    """The tiny model loaded as users load it: the reference the frameworks' embeddings are compared with."""
    return SentenceTransformer(model_path, trust_remote_code=True)


@pytest.fixture
def queries() -> list[str]:
    """Two questions, each answered by one of `documents`."""
    return ["Where do polar bears live?", "What is the capital of France?"]


@pytest.fixture
def documents() -> list[str]:
    """Four passages from the tiny tokenizer's corpus: the answers to `queries` and two distractors."""
    return [
        "Polar bears live in the Arctic, on sea ice and snow near the North Pole.",
        "The capital of France is Paris, a city on the river Seine.",
        "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
        "A transformer is a neural network built from attention and feed-forward layers.",
    ]
