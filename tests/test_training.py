"""TrainConfig recipes and the end-to-end train() entry point on a tiny backbone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import LLM2VecGenLoss, create_model
from st_llm2vec_gen.training import TrainConfig, train

RECIPES = sorted((Path(__file__).parents[1] / "training" / "recipes").glob("*.yaml"))


def test_the_recipes_are_found():
    """An empty glob (say, after the folder moved) would otherwise skip test_recipes_parse silently."""
    assert "smollm2-135m-cpu" in {p.stem for p in RECIPES}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_parse(recipe):
    config = TrainConfig.from_yaml(str(recipe))
    assert config.backbone and config.max_steps > 0 and config.num_tokens == 10


def test_unknown_recipe_keys_are_refused(tmp_path):
    (tmp_path / "r.yaml").write_text("learning_rte: 0.1\n")
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig.from_yaml(str(tmp_path / "r.yaml"))


def test_train_end_to_end(llama_path, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"Question {i} about polar bears?", "response": f"Answer {i}: the Arctic."} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
        data=str(data), output_dir=str(tmp_path / "out"), backbone=llama_path, num_tokens=2, max_seq_length=32,
        batch_size=4, max_steps=3, warmup_steps=0, logging_steps=1, save_steps=100, extra_args={"use_cpu": True},
    )  # fmt: skip
    model = train(config)
    reloaded = SentenceTransformer(str(tmp_path / "out" / "final"), trust_remote_code=True)
    expected = model.encode(["x"], convert_to_tensor=True)
    torch.testing.assert_close(reloaded.encode(["x"], convert_to_tensor=True), expected)
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    assert any("reconstruction" in h for h in history)
    card = (tmp_path / "out" / "final" / "README.md").read_text()
    assert "trust_remote_code=True" in card and "Training recipe" in card and "8 query/response pairs" in card


def test_train_refuses_bad_data_before_loading_anything(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"query": "q"}) + "\n")
    with pytest.raises(ValueError, match="'response'"):
        train(TrainConfig(data=str(data), backbone="/nonexistent/backbone"))


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
