"""Fixtures shared by every test folder: tiny random backbones saved once per session (helpers in tiny_models.py)."""

from __future__ import annotations

import os

import pytest
from tiny_models import ARCHITECTURES, save_backbone, save_chat_backbone

from st_llm2vec_gen import create_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub
# Exact comparisons (batch invariance to 1e-5, save/load equality) need float32 on every CPU: pinned here, also for
# the CLI subprocesses; tests/models/test_default_dtype.py checks the automatic bf16 choice with the CPU mocked.
os.environ["ST_LLM2VEC_GEN_CPU_DTYPE"] = "float32"


@pytest.fixture(scope="session", params=sorted(ARCHITECTURES))
def backbone_path(request, tmp_path_factory) -> str:
    """Directory of a tiny random backbone, once per architecture."""
    return save_backbone(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="session")
def llama_path(tmp_path_factory) -> str:
    """Directory of a tiny random Llama backbone."""
    return save_backbone(tmp_path_factory.mktemp("llama"), "llama")


@pytest.fixture(scope="session")
def chat_model_dir(tmp_path_factory) -> str:
    """A tiny LLM2Vec-Gen model whose random Llama backbone has a chat template (HyDE and decoding need it)."""
    backbone = save_chat_backbone(tmp_path_factory.mktemp("chat-llama"))
    path = tmp_path_factory.mktemp("chat-model")
    create_model(backbone, num_tokens=2, max_seq_length=48).save(str(path))
    return str(path)
