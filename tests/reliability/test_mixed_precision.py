"""The GPU training path, on CPU: a bfloat16 backbone with a float32 head, autocast on and off, SDPA over left
padding and activation checkpointing. bench/gpu_check.py runs the same path on CUDA.

Tolerances: bf16 keeps 8 bits of mantissa (relative steps of 2**-8 ~ 0.4%), so a bf16 backbone's embeddings may
differ from fp32's by a few tenths of a percent; the tests allow cosine >= 0.999 and relative L2 error <= 2%.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import LLM2VecGenLoss, create_model
from st_llm2vec_gen.models import LLM2VecGenConfig
from st_llm2vec_gen.models.backbone_forward import hidden_states, masked_mean
from st_llm2vec_gen.training import TrainConfig, train
from st_llm2vec_gen.training.config import DataSettings

TEXTS = ["Where do polar bears live?", "Paris", "How do plants turn sunlight, water and air into sugar and oxygen?"]
RESPONSES = ["On the Arctic sea ice.", "Paris is the capital of France.", "By photosynthesis in their leaves."]
MIN_COSINE, MAX_RELATIVE_ERROR = 0.999, 0.02


def agree(a: torch.Tensor, b: torch.Tensor) -> None:
    a, b = a.float(), b.float()
    assert torch.nn.functional.cosine_similarity(a, b).min() >= MIN_COSINE
    assert ((a - b).norm(dim=-1) / a.norm(dim=-1)).max() <= MAX_RELATIVE_ERROR


@pytest.fixture(scope="module")
def fp32(llama_path):
    return create_model(llama_path, num_tokens=2, max_seq_length=48, model_kwargs={"attn_implementation": "sdpa"})


@pytest.fixture(scope="module")
def bf16(llama_path, fp32):
    """The same model with a bfloat16 backbone and fp32's head weights."""
    model = create_model(
        llama_path, num_tokens=2, max_seq_length=48, model_kwargs={"dtype": "bfloat16", "attn_implementation": "sdpa"}
    )
    model[0].load_trainable_state({k: v.detach() for k, v in fp32[0].trainable_state_dict().items()})
    return model


def test_bf16_backbone_keeps_a_float32_head(bf16):
    module = bf16[0]
    assert module.backbone.dtype == torch.bfloat16 and module.backbone.config._attn_implementation == "sdpa"
    assert {p.dtype for p in module.trainable_state_dict().values()} == {torch.float32}
    embeddings = bf16.encode(TEXTS, convert_to_tensor=True)
    assert embeddings.dtype == torch.float32 and torch.isfinite(embeddings).all()


def test_bf16_embeddings_agree_with_fp32(fp32, bf16):
    agree(fp32.encode(TEXTS, convert_to_tensor=True), bf16.encode(TEXTS, convert_to_tensor=True))


@pytest.mark.parametrize("which", ["fp32", "bf16"])
def test_autocast_on_and_off_agree(which, request):
    model = request.getfixturevalue(which)
    plain = model.encode(TEXTS, convert_to_tensor=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = model.encode(TEXTS, convert_to_tensor=True)
        as_numpy = model.encode(TEXTS)  # bf16 results still convert to numpy
    assert torch.isfinite(autocast).all() and as_numpy.dtype == np.float32
    agree(plain, autocast)


def test_left_padded_sdpa_rows_are_finite_and_batch_invariant(bf16):
    module = bf16[0]
    features = module.preprocess(TEXTS)
    assert (features["attention_mask"][:, 0] == 0).any()  # some rows are left-padded
    with torch.no_grad():
        states = hidden_states(module.backbone, features["attention_mask"], input_ids=features["input_ids"])
    assert torch.isfinite(states).all()  # padding rows too: a NaN there would leak through masked sums
    assert torch.isfinite(masked_mean(states, features["attention_mask"])).all()
    batch = bf16.encode(TEXTS, convert_to_tensor=True)
    agree(torch.stack([bf16.encode([t], convert_to_tensor=True)[0] for t in TEXTS]), batch)


@pytest.mark.parametrize("autocast", [False, True])
def test_bf16_training_step_with_checkpointing_has_finite_float32_gradients(llama_path, autocast):
    model = create_model(llama_path, num_tokens=2, max_seq_length=48, model_kwargs={"dtype": "bfloat16"})
    module = model[0]
    module.backbone.activation_checkpointing_enable()
    model.train()
    backbone_before = {k: v.clone() for k, v in module.backbone.state_dict().items()}
    optimizer = torch.optim.AdamW(module.trainable_state_dict().values(), lr=1e-3)
    query = module.preprocess(TEXTS)
    response = {**module.preprocess(RESPONSES, task="response"), "task": "response"}
    labels = torch.randn(len(TEXTS), module.embedding_dim)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        parts = LLM2VecGenLoss(model)([query, response], labels)
    loss = sum(parts.values())
    assert torch.isfinite(loss) and all(torch.isfinite(p) for p in parts.values())
    loss.backward()
    for name, param in module.trainable_state_dict().items():
        assert param.grad is not None and param.grad.dtype == torch.float32 and torch.isfinite(param.grad).all(), name
    optimizer.step()
    assert {p.dtype for p in module.trainable_state_dict().values()} == {torch.float32}
    assert all(torch.equal(v, backbone_before[k]) for k, v in module.backbone.state_dict().items())


def test_train_in_bf16_with_autocast_and_checkpointing(llama_path, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"query": q, "response": r}) + "\n" for q, r in zip(TEXTS, RESPONSES)))
    config = TrainConfig(
        data=DataSettings([str(data)]), model=LLM2VecGenConfig(llama_path, 2, max_seq_length=32), dtype="bfloat16",
        batch_size=3, max_steps=2, schedule_steps=None,
        args={"output_dir": str(tmp_path / "run"), "bf16": True, "activation_checkpointing": True, "warmup_steps": 0,
              "logging_steps": 1, "save_steps": 100, "use_cpu": True},
    )  # fmt: skip
    model = train(config)
    assert model[0].backbone.dtype == torch.bfloat16
    assert {p.dtype for p in model[0].trainable_state_dict().values()} == {torch.float32}
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 2 and all(np.isfinite(losses))
    final = tmp_path / "run" / "final"
    assert json.loads((final / "llm2vec_gen_config.json").read_text())["dtype"] == "bfloat16"
    reloaded = SentenceTransformer(str(final), trust_remote_code=True)
    assert reloaded[0].backbone.dtype == torch.bfloat16
    np.testing.assert_allclose(reloaded.encode(TEXTS), model.encode(TEXTS), rtol=0, atol=1e-6)


def test_decode_and_logit_lens_with_a_bf16_backbone(bf16):
    decoded = bf16[0].decode(TEXTS, max_new_tokens=4)
    assert [type(t) for t in decoded] == [str] * 3 and [len(w) for w in bf16[0].logit_lens(TEXTS, top_k=3)] == [3] * 3
