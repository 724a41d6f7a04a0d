"""Fine-tuning with sentence-transformers losses (MNRL, CoSENT, Matryoshka), alone or with the reconstruction term."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MatryoshkaLoss, MultipleNegativesRankingLoss

from st_llm2vec_gen import ReconstructionRegularizedLoss, create_model

ANCHORS = ["Where do polar bears live?", "What is the capital of France?", "How do plants make sugar?", "Hi there"]
POSITIVES = [
    "Polar bears live in the Arctic, on sea ice and snow.",
    "Paris is the capital of France.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "Hello! How can I help you?",
]
RESPONSES = [
    "They live on the sea ice of the Arctic.",
    "The capital of France is Paris.",
    "Plants make sugar by photosynthesis in their leaves.",
    "Hello! What can I do for you today?",
]
HEAD = ("compression_tokens", "reconstruction.weight", "reconstruction.bias", "alignment.weight", "alignment.bias")


@pytest.fixture()
def model(llama_path):
    return create_model(llama_path, num_tokens=3, max_seq_length=40)


def text_features(model, texts):
    return model[0].preprocess(texts)


def response_features(model, responses=RESPONSES):
    return {**model[0].preprocess(responses, task="response"), "task": "response"}


def inner_loss(model, kind):
    if kind == "mnrl":
        return MultipleNegativesRankingLoss(model)
    if kind == "cosent":
        return CoSENTLoss(model)
    return MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), [32, 16])


def total(parts):
    return sum(parts.values()) if isinstance(parts, dict) else parts


@pytest.mark.parametrize("kind", ["mnrl", "cosent", "matryoshka"])
@pytest.mark.parametrize("regularized", [False, True])
def test_gradients_reach_only_the_head(model, kind, regularized):
    loss = inner_loss(model, kind)
    features = [text_features(model, ANCHORS), text_features(model, POSITIVES)]
    labels = torch.tensor([1.0, 0.8, 0.6, 0.1]) if kind == "cosent" else None
    if regularized:
        loss = ReconstructionRegularizedLoss(model, loss, weight=0.5)
        features.append(response_features(model))
    parts = loss(features, labels)
    if regularized:
        assert set(parts) == {type(loss.loss).__name__, "reconstruction"}
    total(parts).backward()
    module = model[0]
    assert all(p.grad is None for p in module.backbone.parameters())
    grads = {name: param.grad for name, param in module.trainable_state_dict().items()}
    assert set(grads) == set(HEAD) and all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_the_response_column_reuses_the_anchors_pass(model):
    module = model[0]
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    loss = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), weight=2.0)
    parts = loss([text_features(model, ANCHORS), text_features(model, POSITIVES), response_features(model)], None)
    assert len(calls) == 2  # anchor and positive, as the wrapped loss alone: no pass of its own
    with torch.no_grad():
        soft = module(text_features(model, ANCHORS))["soft_prompt"]
        target = response_features(model)
        expected = 2.0 * module.reconstruction_loss(soft, target["input_ids"], target["attention_mask"])
    torch.testing.assert_close(parts["reconstruction"].detach(), expected)


def test_replay_pairs_serve_when_there_is_no_response_column(model):
    pairs = list(zip(ANCHORS, RESPONSES))
    loss = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), replay=pairs, replay_batch_size=3)
    seen = [loss._next_replay() for _ in range(4)]  # 12 indices: three passes over the 4 pairs
    flat = [i for batch in seen for i in batch]
    assert all(len(b) == 3 for b in seen) and sorted(flat[:4]) == [0, 1, 2, 3] and sorted(flat[4:8]) == [0, 1, 2, 3]
    again = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), replay=pairs, replay_batch_size=3)
    assert [again._next_replay() for _ in range(4)] == seen  # seeded
    parts = loss([text_features(model, ANCHORS), text_features(model, POSITIVES)], None)
    assert parts["reconstruction"] > 0 and parts["reconstruction"].requires_grad


def test_bad_setups_get_clear_errors(model):
    mnrl = MultipleNegativesRankingLoss(model)
    plain = [text_features(model, ANCHORS), text_features(model, POSITIVES)]
    with pytest.raises(ValueError, match="router_mapping"):
        ReconstructionRegularizedLoss(model, mnrl)(plain, None)
    assert set(ReconstructionRegularizedLoss(model, mnrl, weight=0)(plain, None)) == {"MultipleNegativesRankingLoss"}
    with pytest.raises(ValueError, match="at most one column routed"):
        ReconstructionRegularizedLoss(model, mnrl)([*plain, response_features(model), response_features(model)], None)
    for bad in (-1.0, float("nan"), True):
        with pytest.raises(ValueError, match="weight"):
            ReconstructionRegularizedLoss(model, mnrl, weight=bad)
    with pytest.raises(ValueError, match="replay pair 1"):
        ReconstructionRegularizedLoss(model, mnrl, replay=[("a", "b"), ("c", "")])
    with pytest.raises(ValueError, match="replay_batch_size"):
        ReconstructionRegularizedLoss(model, mnrl, replay=[("a", "b")], replay_batch_size=0)


def reconstruction_after_finetuning(llama_path, weight: float, steps: int = 12) -> float:
    """The responses' reconstruction CE after ``steps`` of MNRL (plus the term with ``weight``) from the same head."""
    model = create_model(llama_path, num_tokens=3, max_seq_length=40)
    loss = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), weight=weight)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    features = [text_features(model, ANCHORS), text_features(model, POSITIVES), response_features(model)]
    for _ in range(steps):
        optimizer.zero_grad()
        total(loss(features, None)).backward()
        optimizer.step()
    with torch.no_grad():
        soft = model[0](text_features(model, ANCHORS))["soft_prompt"]
        target = response_features(model)
        return model[0].reconstruction_loss(soft, target["input_ids"], target["attention_mask"]).item()


def test_the_regulariser_lowers_the_reconstruction_loss(llama_path):
    """From the same head, MNRL with the term ends with a lower reconstruction loss of the answers than MNRL alone
    (a random tiny backbone reads soft prompts barely at all, so the gap is small; docs/training.md has the
    embedded backbone's figures)."""
    without = reconstruction_after_finetuning(llama_path, 0.0)
    with_term = reconstruction_after_finetuning(llama_path, 5.0)
    assert with_term < without - 1e-3


def test_trainer_matryoshka_with_the_regulariser_then_truncate_dim(llama_path, tmp_path):
    model = create_model(llama_path, num_tokens=3, max_seq_length=40)
    backbone_before = {k: v.clone() for k, v in model[0].backbone.state_dict().items()}
    head_before = {k: v.detach().clone() for k, v in model[0].trainable_state_dict().items()}
    data = Dataset.from_dict({"anchor": ANCHORS * 2, "positive": POSITIVES * 2, "llm_answer": RESPONSES * 2})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "run"), router_mapping={"llm_answer": "response"}, max_steps=3,
        per_device_train_batch_size=4, learning_rate=1e-2, save_strategy="no", report_to=[], use_cpu=True,
    )  # fmt: skip
    matryoshka = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), [32, 16])
    loss = ReconstructionRegularizedLoss(model, matryoshka, weight=0.5)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    assert all(torch.equal(v, backbone_before[k]) for k, v in model[0].backbone.state_dict().items())
    assert any(not torch.equal(v, head_before[k]) for k, v in model[0].trainable_state_dict().items())
    model.save(str(tmp_path / "model"))

    full = SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True)
    short = SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True, truncate_dim=16)
    vectors, truncated = full.encode(ANCHORS, convert_to_tensor=True), short.encode(ANCHORS, convert_to_tensor=True)
    assert vectors.shape == (4, 32) and truncated.shape == (4, 16)
    torch.testing.assert_close(truncated, vectors[:, :16])
    assert short.similarity(truncated, truncated).shape == (4, 4)
    decoded = short[0].decode(ANCHORS, max_new_tokens=6)
    assert len(decoded) == 4 and all(isinstance(text, str) and text for text in decoded)
