"""Shared by tests/integrations: a tiny saved LLM2Vec-Gen model, its SentenceTransformer, and texts to embed."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import create_model

QUERIES = ["Where do polar bears live?", "What is the capital of France?"]
DOCUMENTS = [
    "Polar bears live in the Arctic, on sea ice and snow near the North Pole.",
    "The capital of France is Paris, a city on the river Seine.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
    "A transformer is a neural network built from attention and feed-forward layers.",
]


@pytest.fixture(scope="module")
def model_path(llama_path, tmp_path_factory) -> str:
    """A tiny random LLM2Vec-Gen model saved with the default prompts (the head only, backbone by reference)."""
    path = tmp_path_factory.mktemp("llm2vec_gen_integration")
    create_model(llama_path, num_tokens=3, max_seq_length=40, seed=1).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def st_model(model_path) -> SentenceTransformer:
    return SentenceTransformer(model_path, trust_remote_code=True)
