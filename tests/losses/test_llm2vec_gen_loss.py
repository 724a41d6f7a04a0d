"""LLM2VecGenLoss: reconstruction against a per-sample reference, and training in SentenceTransformerTrainer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from transformers import AutoModelForCausalLM

from st_llm2vec_gen import LLM2VecGen, LLM2VecGenLoss, create_model
from st_llm2vec_gen.losses import reconstruction_loss
from st_llm2vec_gen.losses.llm2vec_gen_loss import in_batch_contrastive
from st_llm2vec_gen.training.teachers import SelfTeacher
from st_llm2vec_gen.training.trainer import LLM2VecGenTrainer

QUERIES = ["Where do polar bears live?", "What is the capital of France?", "How do plants make sugar?", "Hi"]
RESPONSES = [
    "Polar bears live in the Arctic, on sea ice and snow.",
    "Paris.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen in the leaves.",
    "Hello! How can I help you?",
]


@pytest.fixture()
def model(backbone_path):
    return create_model(backbone_path, num_tokens=3, max_seq_length=40)


def features(model, queries=QUERIES, responses=RESPONSES):
    module = model[0]
    response = {**module.preprocess(responses, task="response"), "task": "response"}
    return [module.preprocess(queries), response]


def test_responses_end_with_the_backbones_eos(model):
    module = model[0]
    out = module.preprocess(RESPONSES, task="response")
    lengths = out["attention_mask"].sum(1)
    last = out["input_ids"][torch.arange(len(RESPONSES)), lengths - 1]
    assert last.eq(module.eos_token_id).all()
    long = module.preprocess([" ".join(RESPONSES * 20)], task="response", max_length=16)
    assert long["input_ids"].shape == (1, 16) and long["input_ids"][0, -1] == module.eos_token_id


def test_reconstruction_loss_matches_per_sample_reference(model):
    module = model[0]
    query, response = features(model)
    soft = module(query)["soft_prompt"]  # (B, N, H)
    batched = reconstruction_loss(module, soft, response["input_ids"], response["attention_mask"])
    total, count = 0.0, 0
    for i in range(len(QUERIES)):  # the definition, one sample at a time, no padding anywhere
        ids = response["input_ids"][i][response["attention_mask"][i].bool()]  # (T_i,)
        inputs = torch.cat([soft[i], module.backbone.get_input_embeddings()(ids)])[None]  # (1, N+T_i, H)
        logits = module.backbone(inputs_embeds=inputs).logits[0, soft.shape[1] - 1 : -1]  # (T_i, V)
        total = total + F.cross_entropy(logits, ids, reduction="sum")
        count += len(ids)
    torch.testing.assert_close(batched, total / count, rtol=1e-5, atol=1e-5)


def test_online_self_teacher_equals_precomputed_labels(model):
    loss = LLM2VecGenLoss(model)
    labels = SelfTeacher(model[0]).encode(RESPONSES)
    online = loss(features(model), None)
    offline = loss(features(model), labels)
    torch.testing.assert_close(online["alignment"], offline["alignment"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(online["reconstruction"], offline["reconstruction"])


def test_bad_setups_get_clear_errors(model):
    loss = LLM2VecGenLoss(model)
    query, response = features(model)
    response.pop("task")
    with pytest.raises(ValueError, match="router_mapping"):
        loss([query, response], None)
    with pytest.raises(ValueError, match="embedding_dim must equal"):
        loss(features(model), torch.zeros(len(QUERIES), 7))
    swapped = features(model)[::-1]  # the mapping was passed, but the columns are in the wrong order
    with pytest.raises(ValueError, match="response column first"):
        loss(swapped, None)
    nan_labels = torch.zeros(len(QUERIES), model[0].embedding_dim)
    nan_labels[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        loss(features(model), nan_labels)
    for weight in (float("nan"), -1.0, "1"):
        with pytest.raises(ValueError, match="alignment_weight must be a finite number"):
            LLM2VecGenLoss(model, alignment_weight=weight)


def make_trainer(model, output_dir, max_steps, save_steps=None, trainer_class=SentenceTransformerTrainer):
    data = Dataset.from_dict(
        {"query": QUERIES * 3, "response": RESPONSES * 3, "label": SelfTeacher(model[0]).encode(RESPONSES * 3).tolist()}
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir), router_mapping={"response": "response"}, max_steps=max_steps,
        per_device_train_batch_size=4, learning_rate=5e-3, warmup_steps=1, lr_scheduler_type="linear", report_to=[],
        save_strategy="steps" if save_steps else "no", save_steps=save_steps or 500, use_cpu=True, seed=0,
        logging_steps=1, dataloader_drop_last=True,
    )  # fmt: skip
    return trainer_class(model=model, args=args, train_dataset=data, loss=LLM2VecGenLoss(model))


def test_training_lowers_the_loss_and_moves_only_the_head(model, tmp_path):
    module = model[0]
    backbone_before = {k: v.clone() for k, v in module.backbone.state_dict().items()}
    loss = LLM2VecGenLoss(model)
    labels = SelfTeacher(module).encode(RESPONSES)
    with torch.no_grad():
        before = {k: v.item() for k, v in loss(features(model), labels).items()}
    trainer = make_trainer(model, tmp_path, max_steps=12)
    trainer.train()
    with torch.no_grad():
        after = {k: v.item() for k, v in loss(features(model), labels).items()}
    # A random 2-layer backbone sits near the uniform cross-entropy ln(400) ~ 6.0, so reconstruction moves little;
    # alignment must fall clearly.
    assert after["alignment"] < 0.5 * before["alignment"], (before, after)
    assert after["reconstruction"] < before["reconstruction"], (before, after)
    logged = [log for log in trainer.state.log_history if "alignment" in log]
    assert logged and "reconstruction" in logged[0]  # both components are logged
    for name, tensor in module.backbone.state_dict().items():
        assert torch.equal(tensor, backbone_before[name]), name


def test_resume_from_checkpoint_equals_uninterrupted_run(backbone_path, tmp_path, monkeypatch):
    full = create_model(backbone_path, num_tokens=3, max_seq_length=40)
    make_trainer(full, tmp_path / "a", max_steps=6, save_steps=3).train()
    checkpoint = tmp_path / "a" / "checkpoint-3"
    assert (checkpoint / "model.safetensors").stat().st_size < 200_000  # head only, never the backbone

    for trainer_class in (SentenceTransformerTrainer, LLM2VecGenTrainer):
        resumed = create_model(backbone_path, num_tokens=3, max_seq_length=40)
        loads = []
        monkeypatch.setattr(
            AutoModelForCausalLM, "from_pretrained", counting(loads, AutoModelForCausalLM.from_pretrained)
        )
        trainer = make_trainer(resumed, tmp_path / "b", max_steps=6, save_steps=3, trainer_class=trainer_class)
        trainer.train(resume_from_checkpoint=str(checkpoint))
        monkeypatch.undo()
        # sentence-transformers loads a second backbone to resume; LLM2VecGenTrainer reads the head only
        assert len(loads) == (0 if trainer_class is LLM2VecGenTrainer else 1)
        for name, tensor in full[0].trainable_state_dict().items():
            torch.testing.assert_close(resumed[0].trainable_state_dict()[name], tensor, rtol=0, atol=1e-6)


def test_a_self_contained_model_trains_and_resumes_from_its_own_code(backbone_path, tmp_path, monkeypatch):
    """Loaded from the module code saved beside it, the class is a copy, not st_llm2vec_gen's: still accepted."""
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    model = create_model(backbone_path, num_tokens=3, max_seq_length=40)
    model[0].store_backbone = True
    model.save(str(tmp_path / "model"))

    def load():
        loaded = SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True, device="cpu")
        assert type(loaded[0]).__name__ == "LLM2VecGen" and not isinstance(loaded[0], LLM2VecGen)
        return loaded

    full = load()
    make_trainer(full, tmp_path / "a", max_steps=4, save_steps=2, trainer_class=LLM2VecGenTrainer).train()
    resumed = load()
    trainer = make_trainer(resumed, tmp_path / "b", max_steps=4, save_steps=2, trainer_class=LLM2VecGenTrainer)
    trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))
    before = load()[0].trainable_state_dict()
    for name, tensor in full[0].trainable_state_dict().items():
        torch.testing.assert_close(resumed[0].trainable_state_dict()[name], tensor, rtol=0, atol=1e-6)
        assert not torch.equal(tensor, before[name])  # it did train


def counting(calls: list, function):
    def wrapper(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return wrapper


def test_chunked_logits_give_the_same_loss_and_gradients(model):
    module = model[0]
    query, response = features(model)
    results = []
    for chunk_size in (1024, 7):  # one chunk, then many recomputed chunks
        module.zero_grad()
        soft = module(dict(query))["soft_prompt"]
        loss = reconstruction_loss(module, soft, response["input_ids"], response["attention_mask"], chunk_size)
        loss.backward()
        results.append((loss.detach(), module.compression_tokens.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_cut_responses_have_no_eos_target(model):
    module = model[0]
    loss = LLM2VecGenLoss(model, alignment_weight=0.0)
    labels = SelfTeacher(module).encode(RESPONSES)  # (B, D)
    query, response = features(model)
    with torch.no_grad():
        flagged = loss([query, {**response, "truncated": torch.tensor([False, True, False, True])}], labels)
        flagged = flagged["reconstruction"]
        soft = module(module.preprocess(QUERIES))["soft_prompt"]
        mask = response["attention_mask"].clone()
        for row in (1, 3):  # by hand: the appended EOS of rows 1 and 3 is neither input nor target
            mask[row, mask[row].sum() - 1] = 0
        expected = module.reconstruction_loss(soft, response["input_ids"], mask)
        unflagged = loss([query, response], labels)["reconstruction"]
    torch.testing.assert_close(flagged, expected)
    assert not torch.isclose(flagged, unflagged)


def test_contrastive_term_is_optional_and_reaches_only_the_head(model):
    labels = SelfTeacher(model[0]).encode(RESPONSES)
    assert "contrastive" not in LLM2VecGenLoss(model)(features(model), labels)  # 0: the paper's objective
    model.train()
    parts = LLM2VecGenLoss(model, contrastive_weight=0.5, temperature=0.1)(features(model), labels)
    expected = in_batch_contrastive(model.encode(QUERIES, convert_to_tensor=True), labels, 0.1)
    torch.testing.assert_close(parts["contrastive"].detach(), 0.5 * expected, rtol=1e-4, atol=1e-5)
    parts["contrastive"].backward()
    module = model[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.trainable_state_dict().values())
    assert all(p.grad is None for p in module.backbone.parameters())
    with pytest.raises(ValueError, match="temperature"):
        LLM2VecGenLoss(model, contrastive_weight=1.0, temperature=0.0)
