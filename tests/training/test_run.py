"""TrainConfig recipes and the end-to-end train() entry point on a tiny backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import LLM2VecGenLoss, create_model
from st_llm2vec_gen.models import LLM2VecGenConfig
from st_llm2vec_gen.training.config import DataSettings, LossSettings, TrainConfig
from st_llm2vec_gen.training.run import per_device_batch_size, train, training_arguments


def test_train_end_to_end(llama_path, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about polar bears?", "response": f"Answer {i}: the Arctic."} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
        data=DataSettings([str(data)]), model=LLM2VecGenConfig(llama_path, 2, max_seq_length=32), batch_size=4,
        max_steps=3, schedule_steps=None, args=_args(tmp_path, warmup_steps=0, logging_steps=1, save_steps=100),
    )  # fmt: skip
    model = train(config)
    reloaded = SentenceTransformer(str(tmp_path / "out" / "final"), trust_remote_code=True)
    expected = model.encode(["x"], convert_to_tensor=True)
    torch.testing.assert_close(reloaded.encode(["x"], convert_to_tensor=True), expected)
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    assert any("reconstruction" in h for h in history)
    card = (tmp_path / "out" / "final" / "README.md").read_text()
    assert "trust_remote_code=True" in card and "Training recipe" in card and "8 query/response pairs" in card
    assert reloaded[0].trained_with == {"teacher": "self", "teacher_kwargs": {}, "teacher_prompt": None,
                                        "teacher_normalized": True}  # fmt: skip


def test_query_target_weight_mixes_the_teachers_embeddings_of_query_and_response(llama_path, tmp_path, monkeypatch):
    import datasets

    from st_llm2vec_gen.training.teachers import SelfTeacher

    # a stand-in teacher: 1.0 everywhere for a query, 0.0 for a response
    fake = lambda self, texts, **kw: torch.tensor([[float(t.startswith("Question"))] * 32 for t in texts])  # noqa: E731
    monkeypatch.setattr(SelfTeacher, "encode", fake)
    seen = []
    from_dict = datasets.Dataset.from_dict
    monkeypatch.setattr(datasets.Dataset, "from_dict", lambda values, **kw: seen.append(values) or from_dict(values))
    config = TrainConfig(
        data=DataSettings([_pairs(tmp_path)]), model=LLM2VecGenConfig(llama_path, 2, None, None, 32), batch_size=4,
        max_steps=1, loss=LossSettings(query_target_weight=0.25), args=_args(tmp_path),
    )  # fmt: skip
    train(config)
    np.testing.assert_allclose(np.asarray(seen[0]["label"]), 0.25)
    with pytest.raises(ValueError, match="query_target_weight"):
        LossSettings(query_target_weight=1.5)


def test_train_refuses_bad_data_before_loading_anything(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"query": "q"}) + "\n")
    with pytest.raises(ValueError, match="'response'"):
        train(TrainConfig(data=DataSettings([str(data)]), model=LLM2VecGenConfig(backbone="/nonexistent/backbone")))


def test_activation_checkpointing_gives_the_same_gradients(llama_path):
    grads = []
    for checkpointing in (False, True):
        model = create_model(llama_path, num_tokens=2, max_seq_length=32)
        if checkpointing:
            model[0].backbone.activation_checkpointing_enable()
            assert model[0].backbone.is_activation_checkpointing
        model.train()
        module = model[0]
        query = module.preprocess(["Where do polar bears live?", "Hi"])
        response = {**module.preprocess(["In the Arctic.", "Hello there!"], task="response"), "task": "response"}
        sum(LLM2VecGenLoss(model)([query, response], None).values()).backward()
        grads.append(module.compression_tokens.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def _args(tmp_path, **args) -> dict:
    return {"output_dir": str(tmp_path / "out"), "use_cpu": True, **args}


def _pairs(tmp_path, n=8):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about polar bears?", "response": f"Answer {i}: the Arctic."} for i in range(n)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(data)


def test_global_batch_is_split_over_devices():
    assert per_device_batch_size(32, 2, 1) == 16 and per_device_batch_size(32, 1, 4) == 8
    with pytest.raises(ValueError, match="multiple of devices"):
        per_device_batch_size(3, 2, 1)
    args = training_arguments(TrainConfig(batch_size=32, args={"use_cpu": True}))
    assert args.per_device_train_batch_size == 32 and args.max_steps == 20000  # the schedule's length


def test_schedule_is_planned_longer_than_the_run(llama_path, tmp_path):
    config = TrainConfig(
        data=DataSettings([_pairs(tmp_path)]), model=LLM2VecGenConfig(llama_path, 2, None, None, 32), batch_size=4,
        max_steps=3, schedule_steps=10,
        args=_args(tmp_path, warmup_steps=0, learning_rate=1e-3, logging_steps=1, save_steps=100),
    )  # fmt: skip
    train(config)
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    rates = [h["learning_rate"] for h in history if "learning_rate" in h]
    assert len(rates) == 3 and rates[-1] == pytest.approx(1e-3 * (1 - 2 / 10))  # linear over 10, stopped at 3
    assert (tmp_path / "out" / "checkpoint-3").is_dir()
    labels = list((tmp_path / "out").glob("teacher-labels-*.npz"))
    assert len(labels) == 1
    with pytest.raises(ValueError, match="already holds a training run"):
        train(config)  # no silent replacement of final/ and checkpoints
    assert labels[0].stat().st_mtime == list((tmp_path / "out").glob("teacher-labels-*.npz"))[0].stat().st_mtime


def test_non_finite_teacher_labels_are_refused(llama_path, tmp_path, monkeypatch):
    from st_llm2vec_gen.training.teachers import SelfTeacher

    monkeypatch.setattr(SelfTeacher, "encode", lambda self, texts, **kw: torch.full((len(texts), 32), float("nan")))
    config = TrainConfig(
        data=DataSettings([_pairs(tmp_path)]), model=LLM2VecGenConfig(llama_path, 2, None, None, 32), batch_size=4,
        max_steps=1, args=_args(tmp_path),
    )  # fmt: skip
    with pytest.raises(ValueError, match="NaN or infinite"):
        train(config)


def _head(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model[0].trainable_state_dict().items()}


def test_load_head_copies_a_saved_head_exactly_and_refuses_a_mismatch(llama_path, tmp_path):
    saved = create_model(llama_path, num_tokens=2, seed=1)
    saved.save(str(tmp_path / "saved"))
    live = create_model(llama_path, num_tokens=2, seed=2)
    assert any(not torch.equal(a, b) for a, b in zip(_head(live).values(), _head(saved).values()))
    live[0].load_head(str(tmp_path / "saved"))
    for name, weight in _head(saved).items():
        assert torch.equal(_head(live)[name], weight), name
    with pytest.raises(ValueError, match="shape"):  # another token count
        create_model(llama_path, num_tokens=3)[0].load_head(str(tmp_path / "saved"))
    with pytest.raises(FileNotFoundError, match="not an LLM2Vec-Gen model"):
        live[0].load_head(str(tmp_path))


@pytest.mark.parametrize("num_tokens", [1, 4])
def test_load_head_resizes_tokens_only_when_asked(llama_path, tmp_path, num_tokens):
    """Fewer tokens: the saved last ones; more: the saved ones last, the fresh ones first; R and A as saved."""
    saved = create_model(llama_path, num_tokens=2, seed=1)
    saved.save(str(tmp_path / "saved"))
    live = create_model(llama_path, num_tokens=num_tokens, seed=2)
    fresh = _head(live)
    live[0].load_head(str(tmp_path / "saved"), resize_tokens=True)
    head, start = _head(live), _head(saved)
    keep = min(2, num_tokens)
    assert head["compression_tokens"].shape[0] == num_tokens
    assert torch.equal(head["compression_tokens"][-keep:], start["compression_tokens"][-keep:])
    assert torch.equal(head["compression_tokens"][:-keep], fresh["compression_tokens"][:-keep])
    for name in ("reconstruction.weight", "reconstruction.bias", "alignment.weight", "alignment.bias"):
        assert torch.equal(head[name], start[name]), name


def test_load_head_refuses_a_head_of_another_backbone(llama_path, tmp_path, tmp_path_factory):
    from tiny_models import save_backbone

    other = save_backbone(tmp_path_factory.mktemp("qwen3-other"), "qwen3")  # hidden size 48, not 32
    create_model(other, num_tokens=2).save(str(tmp_path / "other"))
    with pytest.raises(ValueError, match="hidden size"):
        create_model(llama_path, num_tokens=2)[0].load_head(str(tmp_path / "other"))


def test_train_starts_from_init_from(llama_path, tmp_path):
    """With a vanishing learning rate the trained head is the saved one, not the fresh head of the seed."""
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about seals?", "response": f"Answer {i}: the ice."} for i in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    start = create_model(llama_path, num_tokens=2, max_seq_length=32, seed=7)
    start.save(str(tmp_path / "start"))
    config = TrainConfig(
        data=DataSettings([str(data)]), model=LLM2VecGenConfig(llama_path, 2, max_seq_length=32),
        init_from=str(tmp_path / "start"), batch_size=4, max_steps=1, schedule_steps=None,
        args=_args(tmp_path, learning_rate=1e-12, warmup_steps=0, logging_steps=1, save_steps=100),
    )  # fmt: skip
    trained = _head(train(config))
    fresh = _head(create_model(llama_path, num_tokens=2, max_seq_length=32, seed=config.seed))
    for name, weight in _head(start).items():
        torch.testing.assert_close(trained[name], weight, rtol=0, atol=1e-8)
    assert not torch.allclose(fresh["compression_tokens"], _head(start)["compression_tokens"])


def test_train_names_a_missing_init_from_head_before_loading_anything(tmp_path):
    """A recipe of an earlier stage whose start head was pruned from the tree: one line that says how to restore it."""
    gone = "training/runs/smollm2-135m-v9/final"
    model = LLM2VecGenConfig(backbone="/nonexistent/backbone")  # a check after the backbone loads would fail on this
    config = TrainConfig(model, data=DataSettings([_pairs(tmp_path)]), init_from=gone, args=_args(tmp_path))
    message = r"init_from training/runs/smollm2-135m-v9/final does not exist.*git log"
    with pytest.raises(FileNotFoundError, match=message):
        train(config)
