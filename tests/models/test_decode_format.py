"""Decoding and the logit lens on a CPU whose automatic format is bf16: a text's decoding must not depend on the texts
decoded with it, nor on the run (greedy bf16 answers do: 6 of 8 changed between alone and batched when measured)."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL

pytestmark = pytest.mark.backbone

TEXTS = ["Where do polar bears live?", "What is the capital of France?", "How do vaccines work?", "Who wrote Hamlet?"]


def test_automatic_bf16_encodes_in_bf16_but_decodes_independently_of_the_batch(monkeypatch):
    monkeypatch.setenv("ST_LLM2VEC_GEN_CPU_DTYPE", "bfloat16")
    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
    module, prompt = model[0], model.prompts["query"]
    assert module.backbone.dtype == torch.bfloat16  # encoding keeps the fast format
    batched = module.decode(TEXTS, prompt=prompt, max_new_tokens=16)
    assert [module.decode([text], prompt=prompt, max_new_tokens=16)[0] for text in TEXTS] == batched
    lens = module.logit_lens(TEXTS, prompt=prompt, top_k=5)
    assert [module.logit_lens([text], prompt=prompt, top_k=5)[0] for text in TEXTS] == lens
    pinned = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, model_kwargs={"dtype": "float32"})
    assert pinned[0].decode(TEXTS, prompt=prompt, max_new_tokens=16) == batched  # the float32 answers
    assert module.backbone.dtype == torch.bfloat16  # and encoding still runs in bf16 afterwards
