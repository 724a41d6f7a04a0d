"""The backbone's number format when none is given: bf16 on CPUs fast at it, float32 elsewhere (detection mocked)."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import create_model
from st_llm2vec_gen.models import backbones
from st_llm2vec_gen.models.backbones import CPU_DTYPE_ENV, default_dtype, fast_cpu_bf16

TEXTS = ["Where do polar bears live?", "Paris", "How do plants turn sunlight into sugar?"]


@pytest.fixture()
def cpu(monkeypatch):
    """Sets the automatic choice up as on a CPU-only host whose bf16 speed the test decides."""

    def choose(fast: bool) -> None:
        monkeypatch.setenv(CPU_DTYPE_ENV, "auto")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(backbones, "fast_cpu_bf16", lambda: fast)

    return choose


@pytest.mark.parametrize(("fast", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_follows_the_cpu(cpu, fast, expected):
    cpu(fast)
    assert default_dtype() == expected


def test_a_gpu_keeps_float32(cpu, monkeypatch):
    cpu(True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_dtype() == torch.float32


def test_the_environment_variable_wins_and_is_checked(cpu, monkeypatch):
    cpu(True)
    monkeypatch.setenv(CPU_DTYPE_ENV, "float32")
    assert default_dtype() == torch.float32
    monkeypatch.setenv(CPU_DTYPE_ENV, "int4")
    with pytest.raises(ValueError, match=f"{CPU_DTYPE_ENV}='int4'"):
        default_dtype()


def test_detection_needs_the_cpu_flag(monkeypatch):
    fast_cpu_bf16.cache_clear()
    monkeypatch.setattr(backbones, "cpu_flags", lambda: {"avx2", "fma"})
    try:
        assert fast_cpu_bf16() is False  # AVX2 only: bf16 runs, but slower than fp32
    finally:
        fast_cpu_bf16.cache_clear()


def test_fast_cpu_loads_a_bf16_backbone_with_a_float32_head(cpu, llama_path, tmp_path):
    cpu(True)
    model = create_model(llama_path, num_tokens=2, max_seq_length=48)
    module = model[0]
    assert module.backbone.dtype == torch.bfloat16
    assert {p.dtype for p in module.trainable_state_dict().values()} == {torch.float32}
    embeddings = model.encode(TEXTS, convert_to_tensor=True)
    assert embeddings.dtype == torch.float32 and torch.isfinite(embeddings).all()
    model.save(str(tmp_path))  # a runtime choice: the saved model records none ...
    assert module.get_config_dict()["dtype"] is None
    cpu(False)  # ... and loads in the next machine's default
    assert SentenceTransformer(str(tmp_path), trust_remote_code=True)[0].backbone.dtype == torch.float32


def test_an_explicit_dtype_always_wins(cpu, llama_path, tmp_path):
    cpu(True)
    model = create_model(llama_path, num_tokens=2, max_seq_length=48, model_kwargs={"dtype": "float32"})
    assert model[0].backbone.dtype == torch.float32
    cpu(False)
    model = create_model(llama_path, num_tokens=2, max_seq_length=48, model_kwargs={"dtype": "bfloat16"})
    model.save(str(tmp_path))
    assert model[0].get_config_dict()["dtype"] == "bfloat16"  # chosen by the user: part of the model
    cpu(True)
    reloaded = SentenceTransformer(str(tmp_path), trust_remote_code=True, model_kwargs={"dtype": "float32"})
    assert reloaded[0].backbone.dtype == torch.float32
