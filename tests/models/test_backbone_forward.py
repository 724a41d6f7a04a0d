"""The backbone arithmetic of models/backbone_forward.py: positions, pooling and the prefix KV reuse in training."""

from __future__ import annotations

import pytest
import torch

from st_llm2vec_gen import create_model
from st_llm2vec_gen.models.backbone_forward import masked_mean, position_ids

QUERIES = ["Where do polar bears live?", "Paris", "How do plants turn sunlight, water and air into sugar?"]
RESPONSES = ["In the Arctic, on the sea ice.", "Paris is the capital of France.", "By photosynthesis."]


def test_position_ids_ignore_left_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert position_ids(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_masked_mean_counts_real_positions_only():
    hidden = torch.arange(12.0).reshape(2, 3, 2)  # (B, T, H)
    mask = torch.tensor([[1, 1, 0], [0, 0, 1]])
    expected = torch.stack([hidden[0, :2].mean(0), hidden[1, 2]])
    torch.testing.assert_close(masked_mean(hidden, mask), expected)


def _loss_and_grads(model, prefix_cache: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    module = model[0]
    module.prefix_cache = prefix_cache
    module.train()
    for p in module.trainable_state_dict().values():
        p.grad = None
    out = module(module.preprocess(QUERIES))
    response = module.preprocess(RESPONSES, task="response")
    target = torch.linspace(-1, 1, out["sentence_embedding"].numel()).view_as(out["sentence_embedding"])
    loss = torch.nn.functional.mse_loss(out["sentence_embedding"], target) + module.reconstruction_loss(
        out["soft_prompt"], response["input_ids"], response["attention_mask"]
    )
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in module.trainable_state_dict().values()]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_prefix_reuse_gives_the_same_loss_and_gradients(backbone_path, checkpointing):
    model = create_model(backbone_path, num_tokens=3, max_seq_length=40, seed=2)
    if checkpointing:
        model[0].backbone.gradient_checkpointing_enable()
    full_loss, full_grads = _loss_and_grads(model, prefix_cache=False)
    reuse_loss, reuse_grads = _loss_and_grads(model, prefix_cache=True)
    torch.testing.assert_close(reuse_loss, full_loss, rtol=1e-6, atol=1e-6)
    for reuse, full in zip(reuse_grads, full_grads):
        assert full.abs().sum() > 0
        torch.testing.assert_close(reuse, full, rtol=1e-5, atol=1e-6)


def test_prefix_reuse_is_for_training_only(backbone_path, monkeypatch):
    """The prefix pass runs only with autograd on a trainable head and prefix_cache set; else one plain pass."""
    from st_llm2vec_gen.models import llm2vec_gen

    calls = []
    real = llm2vec_gen.states_after_fixed_prefix
    monkeypatch.setattr(llm2vec_gen, "states_after_fixed_prefix", lambda *a, **k: calls.append(1) or real(*a, **k))
    module = create_model(backbone_path, num_tokens=3, max_seq_length=40)[0]
    features = module.preprocess(QUERIES)
    with torch.no_grad():
        inference = module(dict(features))["compression_states"]
    assert not calls  # encoding never takes the training path
    training = module(dict(features))["compression_states"]
    assert len(calls) == 1
    torch.testing.assert_close(training.detach(), inference, rtol=1e-5, atol=1e-5)
    module.prefix_cache = False
    module(dict(features))
    module.compression_tokens.requires_grad_(False)
    module.prefix_cache = True
    module(dict(features))
    assert len(calls) == 1  # switched off, or nothing to train: the plain pass


def test_backbone_stays_in_eval_mode_while_the_head_trains(backbone_path):
    model = create_model(backbone_path, num_tokens=2, max_seq_length=40)
    model.train()
    assert model[0].training and not model[0].backbone.training
    model[0].backbone.gradient_checkpointing_enable()
    model.train()  # checkpointing needs train mode; dropout is zeroed so the frozen backbone computes the same
    assert model[0].backbone.training
    dropouts = [m.p for m in model[0].backbone.modules() if isinstance(m, torch.nn.Dropout)]
    attention = [m.attention_dropout for m in model[0].backbone.modules() if hasattr(m, "attention_dropout")]
    assert all(p == 0.0 for p in dropouts + attention) and attention
