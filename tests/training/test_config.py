"""TrainConfig: recipes (old flat ones too), ``extends``, the ``args`` block, all checked before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from st_llm2vec_gen.models import LLM2VecGenConfig
from st_llm2vec_gen.training.config import DataSettings, TrainConfig
from st_llm2vec_gen.training.teachers import TeacherSettings

ROOT = Path(__file__).parents[2]
RECIPES_DIR = ROOT / "training" / "recipes"
RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))


def test_the_recipes_are_found():
    """An empty glob (say, after the folder moved) would otherwise skip test_recipes_parse silently."""
    assert "smollm2-135m-cpu" in {p.stem for p in RECIPES}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_parse(recipe):
    config = TrainConfig.from_yaml(str(recipe))
    assert config.model.backbone and config.max_steps > 0


KEPT_HEADS = {"training/runs/smollm2-135m-v7/final", "training/runs/smollm2-135m-v14/final",
              "training/runs/smollm2-135m-v15/final", "training/runs/smollm2-135m-v17/final",
              "training/runs/smollm2-135m-v18-batch-32/final"}  # fmt: skip
"""The heads the tree keeps (docs/training.md section 5): the stored reference's, stage 13's recipe's start, stage 13
(the start of stages 14, 15 and the teacher variant), stage 15 (the start of stage 16's recipes) and stage 16 (the
shipped default, the start of stage 17's); the other stages' heads were pruned (git history has them)."""
CURRENT = [r for r in RECIPES if (TrainConfig.from_yaml(str(r)).init_from or "") in KEPT_HEADS]


def test_the_kept_heads_are_in_the_tree_and_the_latest_recipes_start_from_them():
    assert all((ROOT / head / "llm2vec_gen_config.json").is_file() for head in KEPT_HEADS)
    starts = {r.stem for r in CURRENT}
    assert {"smollm2-135m-cpu-v15", "smollm2-135m-cpu-v16", "smollm2-135m-cpu-v17", "smollm2-135m-cpu-v18",
            "smollm2-135m-cpu-v18-batch-32", "smollm2-135m-cpu-v19"} <= starts, starts


@pytest.mark.parametrize("recipe", CURRENT, ids=lambda p: p.stem)
def test_recipes_keep_the_token_count_of_their_start(recipe):
    """A recipe continuing a head asks for its token count, or for ``resize_tokens`` (ablations (c) and (e))."""
    config = TrainConfig.from_yaml(str(recipe))
    if not config.resize_tokens:
        saved = json.loads((ROOT / config.init_from / "llm2vec_gen_config.json").read_text())
        assert saved["num_tokens"] == config.model.num_tokens, config.init_from


@pytest.mark.parametrize("recipe", [r for r in RECIPES if "smollm2" not in r.stem], ids=lambda p: p.stem)
def test_gpu_recipes_follow_the_paper(recipe):
    config = TrainConfig.from_yaml(str(recipe))
    paper = (32, 100, 5000, 20000, 512)
    assert (config.batch_size, config.args["warmup_steps"], config.max_steps, config.schedule_steps) == paper[:4]
    assert config.model.max_seq_length == paper[4]
    assert config.args["learning_rate"] == (3e-4 if "qwen3" in recipe.stem else 5e-4)


def test_unknown_recipe_keys_are_refused(tmp_path):
    (tmp_path / "r.yaml").write_text("learning_rte: 0.1\n")
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig.from_yaml(str(tmp_path / "r.yaml"))


def test_resize_tokens_without_init_from_is_refused():
    with pytest.raises(ValueError, match="set init_from"):
        TrainConfig(resize_tokens=True)


def test_recipe_values_are_type_checked_and_module_keys_routed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("args: {learning_rate: 1e-3}\nmodel.num_tokens: 4\nmodel:\n  max_seq_length: 64\n")
    config = TrainConfig.from_yaml(str(recipe), **{"model.backbone": "some/model"})
    assert config.args["learning_rate"] == 0.001  # YAML 1.1 reads 1e-3 as a string
    assert config.model == LLM2VecGenConfig(backbone="some/model", num_tokens=4, max_seq_length=64)
    recipe.write_text("max_steps: many\n")
    with pytest.raises(ValueError, match="max_steps must be int, got 'many'"):
        TrainConfig.from_yaml(str(recipe))
    recipe.write_text("- not a mapping\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        TrainConfig.from_yaml(str(recipe))
    with pytest.raises(ValueError, match="schedule_steps"):
        TrainConfig(max_steps=10, schedule_steps=5)


OLD_FLAT_V9 = """
backbone: "embedded:SmolLM2-135M-Instruct"
init_from: training/runs/smollm2-135m-v8-query-target/final
data: training/data/corpus/responses.jsonl.gz
limit: 6407
teacher: self
teacher_kwargs: {style: summary}
output_dir: outputs/smollm2-135m-v9
num_tokens: 10
max_seq_length: 256
query_prompt: "Generate a passage that answers this question:"
contrastive_weight: 1.0
temperature: 0.05
learning_rate: 5.0e-4
warmup_steps: 10
batch_size: 8
max_steps: 240
schedule_steps: 240
logging_steps: 5
save_steps: 20
save_total_limit: 3
seed: 4
query_target_weight: 0.3
"""


@pytest.mark.parametrize(
    ("key", "place"),
    [("limit", "data.limit"), ("teacher_kwargs", "teacher.kwargs"), ("learning_rate", "args.learning_rate"),
     ("extra_args", "args"), ("num_tokens", "model.num_tokens"), ("contrastive_weight", "loss.contrastive_weight")],
)  # fmt: skip
def test_an_old_flat_recipe_is_refused_naming_the_new_key(tmp_path, key, place):
    """The flat form v9 was first written in: each old top-level key gets an error that names its block."""
    (tmp_path / "old.yaml").write_text(OLD_FLAT_V9 + "extra_args: {}\n")
    with pytest.raises(ValueError, match=f"`{key}` is a key of the old flat recipe form: write it as `{place}`"):
        TrainConfig.from_dict({key: 1})
    with pytest.raises(ValueError, match="old flat recipe form"):
        TrainConfig.from_yaml(str(tmp_path / "old.yaml"))


def test_the_committed_v9_recipe_holds_what_its_flat_form_held():
    """v9 was trained from a flat recipe; its committed nested form must say the same."""
    config = TrainConfig.from_yaml(str(RECIPES_DIR / "smollm2-135m-cpu-v9.yaml"))
    assert config.teacher == TeacherSettings("self", {"style": "summary"})
    assert config.data == DataSettings(["training/data/corpus/responses.jsonl.gz"], 6407, config.data.query_prompt)
    assert (config.output_dir, config.seed, config.args["learning_rate"], config.loss.query_target_weight) == (
        "outputs/smollm2-135m-v9", 4, 5e-4, 0.3)  # fmt: skip


def test_recipes_reading_the_corpus_before_another_file_pin_it_per_file():
    """A total limit pins the rows only while the growing corpus snapshot is the last file read."""
    from st_llm2vec_gen.io.records import load_pairs

    for recipe in RECIPES:
        data = TrainConfig.from_yaml(str(recipe)).data
        corpus = [i for i, path in enumerate(data.paths) if "corpus/responses" in path]
        if corpus and corpus[0] < len(data.paths) - 1:
            assert data.file_limits and data.file_limits[corpus[0]], f"{recipe.name} must pin its corpus rows"
    v17 = TrainConfig.from_yaml(str(RECIPES_DIR / "smollm2-135m-cpu-v17.yaml")).data
    pairs = load_pairs(v17.paths, v17.limit, v17.file_limits)
    sentiment = load_pairs(v17.paths[2])
    assert len(pairs.queries) == 1200 + 17063 + 2580 and pairs.queries[-2580:] == sentiment.queries


def test_extends_merges_blocks_key_by_key_and_refuses_a_circle(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "batch_size: 8\nargs: {learning_rate: 0.001, seed: 3}\nmodel: {num_tokens: 4}\n"
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nargs: {seed: 5}\n")
    config = TrainConfig.from_yaml(str(tmp_path / "child.yaml"), **{"args.save_steps": 7})
    assert (config.batch_size, config.model.num_tokens, config.seed) == (8, 4, 5)
    assert (config.args["learning_rate"], config.args["save_steps"]) == (0.001, 7)
    (tmp_path / "base.yaml").write_text("extends: child.yaml\n")
    with pytest.raises(ValueError, match="circle"):
        TrainConfig.from_yaml(str(tmp_path / "child.yaml"))


def test_args_are_training_arguments_the_run_does_not_set():
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig(args={"learning_rte": 0.1})
    with pytest.raises(ValueError, match="per_device_train_batch_size .use batch_size"):
        TrainConfig(args={"per_device_train_batch_size": 4})
    with pytest.raises(ValueError, match="prompts .use data.query_prompt"):
        TrainConfig(args={"prompts": {"query": "Q:"}})
