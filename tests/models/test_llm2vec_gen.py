"""LLM2VecGen on tiny random Llama and Qwen3 backbones: shapes, prompts, batch invariance, truncation, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MSELoss

from st_llm2vec_gen import DEFAULT_PROMPTS, LLM2VecGen, create_model

TEXTS = [
    "Where do polar bears live?",
    "The capital of France is Paris, a city on the river Seine, and it has many museums and old bridges.",
    "Photosynthesis",
]


@pytest.fixture()
def model(backbone_path):
    return create_model(backbone_path, num_tokens=4, max_seq_length=48, embedding_dim=16)


def test_shapes(model):
    module: LLM2VecGen = model[0]
    hidden = module.hidden_size
    features = module.preprocess(TEXTS)
    assert features["input_ids"].shape == features["attention_mask"].shape
    out = module(dict(features))
    assert out["compression_states"].shape == (3, 4, hidden)
    assert out["soft_prompt"].shape == (3, 4, hidden)
    assert out["sentence_embedding"].shape == (3, 16)
    assert model.encode(TEXTS).shape == (3, 16)
    assert model.get_embedding_dimension() == 16


def test_token_embeddings_are_the_aligned_compression_tokens(model):
    tokens = model.encode(TEXTS, output_value="token_embeddings")
    assert [tuple(t.shape) for t in tokens] == [(4, 16)] * 3
    torch.testing.assert_close(torch.stack(tokens).mean(1), model.encode(TEXTS, convert_to_tensor=True))


def test_embedding_is_mean_of_aligned_soft_prompt(model):
    module: LLM2VecGen = model[0]
    out = module(module.preprocess(TEXTS[:1]))
    expected = module.alignment(module.reconstruction(out["compression_states"])).mean(1)
    torch.testing.assert_close(out["sentence_embedding"], expected)


def test_text_alone_equals_text_in_mixed_batch(model):
    batch = model.encode(TEXTS, batch_size=8, convert_to_tensor=True)
    for i, text in enumerate(TEXTS):
        alone = model.encode([text], convert_to_tensor=True)[0]
        assert (alone - batch[i]).abs().max().item() <= 1e-5


def test_prompts_reach_the_module_joined_by_a_space(model):
    text = TEXTS[0]
    query = model.encode_query([text], convert_to_tensor=True)
    document = model.encode_document([text], convert_to_tensor=True)
    manual_query = model.encode([DEFAULT_PROMPTS["query"] + " " + text], convert_to_tensor=True)
    manual_document = model.encode([DEFAULT_PROMPTS["document"] + " " + text], convert_to_tensor=True)
    torch.testing.assert_close(query, manual_query)
    torch.testing.assert_close(document, manual_document)
    assert not torch.allclose(query, document)


def test_long_text_is_cut_and_keeps_all_compression_tokens(model):
    module: LLM2VecGen = model[0]
    long_text = " ".join(TEXTS * 40)
    features = module.preprocess([long_text, "short"])
    ids, mask = features["input_ids"], features["attention_mask"]
    assert ids.shape[1] == module.max_seq_length
    assert mask[:, -4:].eq(1).all()  # the N compression slots always survive
    head = module.tokenizer(long_text)["input_ids"][: module.max_seq_length - 4]
    assert ids[0, :-4].tolist() == head  # the text is cut at its end, its start kept
    cut_text = module.tokenizer.decode(head)
    torch.testing.assert_close(
        model.encode([long_text], convert_to_tensor=True), model.encode([cut_text], convert_to_tensor=True)
    )


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (None, TypeError, "None"),
        ([1, 2], TypeError, "Text 0 is a int"),
        (["fine", None], TypeError, "Text 1 is a NoneType"),
        (["ok", "  "], ValueError, "Text 1 is empty"),
        ([], ValueError, "empty list"),
    ],
)
def test_bad_input_gets_a_clear_error(model, bad, error, match):
    with pytest.raises(error, match=match):
        model[0].preprocess(bad)
    if bad:  # ST's encode returns early on an empty list, before the module sees it
        with pytest.raises(error, match=match):
            model.encode(bad)


def test_invalid_sizes_are_rejected_before_loading_the_backbone():
    with pytest.raises(ValueError, match="num_tokens"):
        LLM2VecGen("/never/loaded", num_tokens=0)
    with pytest.raises(ValueError, match="max_seq_length"):
        LLM2VecGen("/never/loaded", num_tokens=8, max_seq_length=8)


def test_training_step_moves_only_the_head(model, tmp_path):
    """Through SentenceTransformerTrainer: gradients reach only the head, the backbone stays bit-identical."""
    module: LLM2VecGen = model[0]
    backbone_before = {k: v.clone() for k, v in module.backbone.state_dict().items()}
    head_before = {k: v.detach().clone() for k, v in module.trainable_state_dict().items()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"0.head.{k}" for k in head_before}  # the head module: its names are the saved ones

    rng = np.random.default_rng(0)
    data = Dataset.from_dict({"text": TEXTS * 2, "label": rng.normal(size=(6, 16)).tolist()})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=3, learning_rate=1e-2,
        report_to=[], save_strategy="no", use_cpu=True,
    )  # fmt: skip
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=MSELoss(model)).train()

    for name, param in module.backbone.named_parameters():
        assert param.grad is None, name
    for name, tensor in module.backbone.state_dict().items():
        assert torch.equal(tensor, backbone_before[name]), name
    for name, tensor in module.trainable_state_dict().items():
        assert not torch.equal(tensor.detach(), head_before[name]), f"{name} did not train"


def test_eos_is_the_token_that_ends_answers(backbone_path):
    module = LLM2VecGen(backbone_path, num_tokens=2)
    assert module.eos_token_id == module.tokenizer.eos_token_id == 2
    module.backbone.generation_config.eos_token_id = [7, 2]  # like Llama-3 Instruct: end_of_text, ..., eot_id
    assert module.eos_token_id == 2  # the tokenizer's EOS, which ends chat answers
    module.backbone.generation_config.eos_token_id = [9, 11]
    assert module.eos_token_id == 9
