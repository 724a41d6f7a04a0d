"""TrainConfig recipes and the end-to-end train() entry point on a tiny backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import LLM2VecGenLoss, create_model
from st_llm2vec_gen.models import LLM2VecGenConfig
from st_llm2vec_gen.training.run import TrainConfig, per_device_batch_size, train, training_arguments, with_prompt

RECIPES = sorted((Path(__file__).parents[2] / "training" / "recipes").glob("*.yaml"))


def test_the_recipes_are_found():
    """An empty glob (say, after the folder moved) would otherwise skip test_recipes_parse silently."""
    assert "smollm2-135m-cpu" in {p.stem for p in RECIPES}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_parse(recipe):
    config = TrainConfig.from_yaml(str(recipe))
    assert config.model.backbone and config.max_steps > 0 and config.model.num_tokens == 10


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_start_from_committed_heads(recipe):
    """A recipe that continues an earlier stage names a head committed in the repository, so the chain reproduces."""
    init_from = TrainConfig.from_yaml(str(recipe)).init_from
    if init_from is not None:
        assert (Path(__file__).parents[2] / init_from / "llm2vec_gen_config.json").is_file(), init_from


@pytest.mark.parametrize("recipe", [r for r in RECIPES if "smollm2" not in r.stem], ids=lambda p: p.stem)
def test_gpu_recipes_follow_the_paper(recipe):
    config = TrainConfig.from_yaml(str(recipe))
    paper = (32, 100, 5000, 20000, 512)
    assert (config.batch_size, config.warmup_steps, config.max_steps, config.schedule_steps) == paper[:4]
    assert config.model.max_seq_length == paper[4]
    assert config.learning_rate == (3e-4 if "qwen3" in recipe.stem else 5e-4)


def test_unknown_recipe_keys_are_refused(tmp_path):
    (tmp_path / "r.yaml").write_text("learning_rte: 0.1\n")
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig.from_yaml(str(tmp_path / "r.yaml"))


def test_train_end_to_end(llama_path, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about polar bears?", "response": f"Answer {i}: the Arctic."} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
        data=str(data), output_dir=str(tmp_path / "out"), model=LLM2VecGenConfig(llama_path, 2, max_seq_length=32),
        batch_size=4, max_steps=3, schedule_steps=None, warmup_steps=0, logging_steps=1, save_steps=100,
        extra_args={"use_cpu": True},
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
        data=_pairs(tmp_path), output_dir=str(tmp_path / "out"), model=LLM2VecGenConfig(llama_path, 2, None, None, 32),
        batch_size=4, max_steps=1, query_target_weight=0.25, extra_args={"use_cpu": True},
    )  # fmt: skip
    train(config)
    np.testing.assert_allclose(np.asarray(seen[0]["label"]), 0.25)
    with pytest.raises(ValueError, match="query_target_weight"):
        TrainConfig(query_target_weight=1.5)


def test_train_refuses_bad_data_before_loading_anything(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"query": "q"}) + "\n")
    with pytest.raises(ValueError, match="'response'"):
        train(TrainConfig(data=str(data), model=LLM2VecGenConfig(backbone="/nonexistent/backbone")))


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


def _pairs(tmp_path, n=8):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about polar bears?", "response": f"Answer {i}: the Arctic."} for i in range(n)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(data)


def test_recipe_values_are_type_checked_and_module_keys_routed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rate: 1e-3\nnum_tokens: 4\nmodel:\n  max_seq_length: 64\n")
    config = TrainConfig.from_yaml(str(recipe), **{"model.backbone": "some/model"})
    assert config.learning_rate == 0.001  # YAML 1.1 reads 1e-3 as a string
    assert config.model == LLM2VecGenConfig(backbone="some/model", num_tokens=4, max_seq_length=64)
    recipe.write_text("max_steps: many\n")
    with pytest.raises(ValueError, match="max_steps must be int, got 'many'"):
        TrainConfig.from_yaml(str(recipe))
    recipe.write_text("- not a mapping\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        TrainConfig.from_yaml(str(recipe))
    with pytest.raises(ValueError, match="schedule_steps"):
        TrainConfig(max_steps=10, schedule_steps=5)


def test_global_batch_is_split_over_devices():
    assert per_device_batch_size(32, 2, 1) == 16 and per_device_batch_size(32, 1, 4) == 8
    with pytest.raises(ValueError, match="multiple of devices"):
        per_device_batch_size(3, 2, 1)
    args = training_arguments(TrainConfig(batch_size=32, extra_args={"use_cpu": True}))
    assert args.per_device_train_batch_size == 32 and args.max_steps == 20000  # the schedule's length


def test_schedule_is_planned_longer_than_the_run(llama_path, tmp_path):
    config = TrainConfig(
        data=_pairs(tmp_path), output_dir=str(tmp_path / "out"), model=LLM2VecGenConfig(llama_path, 2, None, None, 32),
        batch_size=4, max_steps=3, schedule_steps=10, warmup_steps=0, learning_rate=1e-3, logging_steps=1,
        save_steps=100, extra_args={"use_cpu": True},
    )  # fmt: skip
    train(config)
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    rates = [h["learning_rate"] for h in history if "learning_rate" in h]
    assert len(rates) == 3 and rates[-1] == pytest.approx(1e-3 * (1 - 2 / 10))  # linear over 10, stopped at 3
    assert (tmp_path / "out" / "checkpoint-3").is_dir()
    labels = list((tmp_path / "out").glob("teacher-labels-*.npy"))
    assert len(labels) == 1
    with pytest.raises(ValueError, match="already holds a training run"):
        train(config)  # no silent replacement of final/ and checkpoints
    assert labels[0].stat().st_mtime == list((tmp_path / "out").glob("teacher-labels-*.npy"))[0].stat().st_mtime


def test_non_finite_teacher_labels_are_refused(llama_path, tmp_path, monkeypatch):
    from st_llm2vec_gen.training.teachers import SelfTeacher

    monkeypatch.setattr(SelfTeacher, "encode", lambda self, texts, **kw: torch.full((len(texts), 32), float("nan")))
    config = TrainConfig(
        data=_pairs(tmp_path), output_dir=str(tmp_path / "out"), model=LLM2VecGenConfig(llama_path, 2, None, None, 32),
        batch_size=4, max_steps=1, extra_args={"use_cpu": True},
    )  # fmt: skip
    with pytest.raises(ValueError, match="NaN or infinite"):
        train(config)


def test_query_prompt_joins_as_at_inference_and_spares_wrapped_passages():
    prompts = ["Generate a passage that answers this question:", "Summarize the following passage:"]
    queries = ["Where do polar bears live?", "Summarize the following passage: Polar bears live on sea ice."]
    out = with_prompt(queries, prompts[0], prompts)
    assert out == [f"{prompts[0]} {queries[0]}", queries[1]]
    assert with_prompt(queries, None, prompts) == queries


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
        data=str(data), output_dir=str(tmp_path / "out"), model=LLM2VecGenConfig(llama_path, 2, max_seq_length=32),
        init_from=str(tmp_path / "start"), learning_rate=1e-12, batch_size=4, max_steps=1, schedule_steps=None,
        warmup_steps=0, logging_steps=1, save_steps=100, extra_args={"use_cpu": True},
    )  # fmt: skip
    trained = _head(train(config))
    fresh = _head(create_model(llama_path, num_tokens=2, max_seq_length=32, seed=config.seed))
    for name, weight in _head(start).items():
        torch.testing.assert_close(trained[name], weight, rtol=0, atol=1e-8)
    assert not torch.allclose(fresh["compression_tokens"], _head(start)["compression_tokens"])
