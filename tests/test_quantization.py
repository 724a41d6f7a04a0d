"""int8 for CPU encoding: close to fp32, only while encoding, never under autograd, removable, nothing saved."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen.quantization import Int8Linear, dequantize, quantization, quantize_for_cpu

TEXTS = ["Where do polar bears live?", "The capital of France is Paris.", "How do plants make sugar from light?"]


@pytest.fixture()
def model(chat_model_dir):
    return SentenceTransformer(chat_model_dir, trust_remote_code=True)


def test_int8_linear_is_close_to_the_float_layer():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 48)
    x = torch.randn(2, 5, 64)
    x[..., 3] *= 30  # an outlier dimension, as LLM activations have: per-token scales keep the rest
    expected, got = layer(x), Int8Linear(layer)(x)
    assert got.shape == expected.shape and got.dtype == x.dtype
    assert ((got - expected).norm() / expected.norm()).item() < 0.02
    per_token_only = Int8Linear(layer, outlier_threshold=None)(x)
    assert (per_token_only - expected).norm() > (got - expected).norm()  # the outlier column costs precision
    torch.testing.assert_close(Int8Linear(layer, outlier_threshold=0.0)(x), expected)  # every column exact
    half = Int8Linear(layer)(x.bfloat16())
    assert half.dtype == torch.bfloat16


def test_encoding_is_int8_and_close_to_fp32(model):
    full = model.encode(TEXTS, convert_to_tensor=True)
    quantize_for_cpu(model)
    assert quantization(model) == "int8"
    int8 = model.encode(TEXTS, convert_to_tensor=True)
    assert not torch.equal(full, int8)
    assert F.cosine_similarity(full, int8).min() > 0.98
    dequantize(model)
    assert quantization(model) is None
    torch.testing.assert_close(model.encode(TEXTS, convert_to_tensor=True), full)


def test_only_backbone_layers_below_the_lm_head_are_switched(model):
    quantize_for_cpu(model)
    module = model[0]
    switched = {name for name, m in module.backbone.named_modules() if "forward" in vars(m)}
    linears = {name for name, m in module.backbone.named_modules() if isinstance(m, torch.nn.Linear)}
    head = next(name for name, m in module.backbone.named_modules() if m is module.backbone.get_output_embeddings())
    assert switched == linears - {head} and switched
    assert "forward" not in vars(module.reconstruction) and "forward" not in vars(module.alignment)


def test_generation_and_autograd_stay_full_precision(model):
    module = model[0]
    with torch.no_grad():
        soft = module(module.preprocess(TEXTS))["soft_prompt"]
    decoded = module.generate_from_soft_prompt(soft, max_new_tokens=6)
    features = module.preprocess(TEXTS)
    trained = module(dict(features))["sentence_embedding"]  # autograd on: the head trains
    quantize_for_cpu(model)
    assert module.generate_from_soft_prompt(soft, max_new_tokens=6) == decoded
    torch.testing.assert_close(module(dict(features))["sentence_embedding"], trained, rtol=0, atol=0)
    with torch.no_grad():
        mean_full = module.mean_pooled(**module.preprocess(TEXTS, task="response"))
        quantize_for_cpu(model, decoding=True)  # now every pass without autograd is int8, generation included
        mean_int8 = module.mean_pooled(**module.preprocess(TEXTS, task="response"))
    assert not torch.equal(mean_full, mean_int8)


def test_a_failed_forward_leaves_int8_off(model):
    module = model[0]
    quantize_for_cpu(model)
    with pytest.raises(KeyError), torch.no_grad():
        module({"input_ids": torch.ones(1, 4, dtype=torch.long)})  # no attention_mask
    state = vars(module)["_st_llm2vec_gen_int8"]
    assert state.forward_int8 is None


def test_saving_a_quantized_model_writes_the_float_model(model, tmp_path):
    quantize_for_cpu(model)
    model[0].store_backbone = True
    model.save(str(tmp_path / "saved"))
    reloaded = SentenceTransformer(str(tmp_path / "saved"), trust_remote_code=True)
    assert quantization(reloaded) is None
    dequantize(model)
    torch.testing.assert_close(
        reloaded.encode(TEXTS, convert_to_tensor=True), model.encode(TEXTS, convert_to_tensor=True)
    )


def test_bad_requests_are_refused(model):
    with pytest.raises(ValueError, match="int4"):
        quantize_for_cpu(model, "int4")
    with pytest.raises(TypeError, match="LLM2Vec-Gen"):
        quantize_for_cpu(torch.nn.Linear(2, 2))
