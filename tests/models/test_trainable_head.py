"""The trainable head as one nn.Module: its state dict is the saved file, loaded strictly and all or nothing."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from st_llm2vec_gen import LLM2VecGen
from st_llm2vec_gen.models.head import init_head
from st_llm2vec_gen.models.saved_format import WEIGHT_NAMES
from st_llm2vec_gen.models.trainable_head import TrainableHead


@pytest.fixture(scope="module")
def module(llama_path) -> LLM2VecGen:
    return LLM2VecGen(llama_path, num_tokens=3, embedding_dim=16, max_seq_length=40, seed=1)


def test_the_saved_file_is_the_head_state_dict(module, tmp_path):
    module.save(str(tmp_path))
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert tuple(saved) == tuple(sorted(WEIGHT_NAMES))  # safetensors sorts its names
    assert tuple(module.head.state_dict()) == WEIGHT_NAMES == TrainableHead.weight_names()
    fresh = TrainableHead(*module.head.shape)
    fresh.load_state_dict(saved, strict=True)
    for name, tensor in module.head.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    assert module.trainable_state_dict() == dict(module.head.named_parameters())


def test_a_fresh_head_is_init_head_exactly_and_draws_no_more(module):
    """The same values as :func:`init_head` and the same global random state after it: building the head's shapes
    draws nothing, so seeded runs go on as before."""
    torch.manual_seed(7)
    tokens, reconstruction, alignment = init_head(module.backbone, 3, 16, seed=1)
    after_init = torch.get_rng_state()
    torch.manual_seed(7)
    head = TrainableHead.initial(module.backbone, 3, 16, seed=1)
    assert torch.equal(torch.get_rng_state(), after_init)
    expected = {"compression_tokens": tokens}
    for prefix, linear in (("reconstruction", reconstruction), ("alignment", alignment)):
        expected.update({f"{prefix}.{k}": v for k, v in linear.state_dict().items()})
    assert head.state_dict().keys() == expected.keys()
    for name, tensor in head.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in head.parameters())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda w: w.pop("alignment.bias"), r"missing \['alignment.bias'\], unexpected \[\]"),
        (lambda w: w.update(extra=torch.zeros(1)), r"missing \[\], unexpected \['extra'\]"),
        (
            lambda w: w.update({"reconstruction.weight": w["reconstruction.weight"][:2]}),
            r"'reconstruction.weight' has shape \(2, 32\), expected \(32, 32\)",
        ),
    ],
)
def test_strict_load_names_the_problem_and_changes_nothing(module, change, match):
    before = {k: v.detach().clone() for k, v in module.head.state_dict().items()}
    weights = {k: v + 1 for k, v in before.items()}  # would change every weight if any were copied
    change(weights)
    with pytest.raises(ValueError, match=match):
        module.load_trainable_state(weights)
    for name, tensor in module.head.state_dict().items():
        assert torch.equal(tensor, before[name]), f"{name} changed by a refused load"


def test_load_copies_into_the_live_parameters(module):
    params = dict(module.head.named_parameters())
    weights = {k: v.detach() + 0.5 for k, v in params.items()}
    module.load_trainable_state(weights)
    for name, param in module.head.named_parameters():
        assert param is params[name] and torch.equal(param.detach(), weights[name]), name
    assert module.compression_tokens is module.head.compression_tokens
