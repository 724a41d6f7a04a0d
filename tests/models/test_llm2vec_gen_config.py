"""The module's settings, defined once by LLM2VecGenConfig: what is saved is what the constructor takes."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from st_llm2vec_gen import LLM2VecGen
from st_llm2vec_gen.models import BackboneShape, LLM2VecGenConfig

TEACHER = {"teacher": "self", "teacher_kwargs": {}, "teacher_prompt": None, "teacher_normalized": False}


@pytest.fixture(scope="module")
def module(llama_path) -> LLM2VecGen:
    return LLM2VecGen(llama_path, num_tokens=3, num_encoded_tokens=2, embedding_dim=16, max_seq_length=40,
                      trained_with=TEACHER)  # fmt: skip


def test_saved_config_is_the_constructor_arguments(module, tmp_path):
    """Every saved setting, under the name ST's load_config gives it, is a constructor parameter with the config's
    default; the rest is the recorded backbone and the format version; the saved settings rebuild the module."""
    module.save(str(tmp_path))
    saved = json.loads((tmp_path / "llm2vec_gen_config.json").read_text())
    recorded = {f.name for f in dataclasses.fields(BackboneShape)} | {"format_version"}
    assert set(saved) - recorded == set(LLM2VecGen.config_keys)
    settings = {LLM2VecGen.config_key_renames.get(k, k): v for k, v in saved.items() if k not in recorded}
    assert settings == {k: v for k, v in LLM2VecGen.load_config(str(tmp_path)).items() if k not in recorded}
    assert set(settings) == {f.name for f in dataclasses.fields(LLM2VecGenConfig)}
    parameters = inspect.signature(LLM2VecGen).parameters
    for field in dataclasses.fields(LLM2VecGenConfig):
        assert parameters[field.name].default == field.default, field.name

    rebuilt = LLM2VecGen(**settings)
    assert rebuilt.get_config_dict() == module.get_config_dict() == saved
    assert module.config.saved_with(module.backbone_shape) == saved  # the converter's writer agrees


def test_saved_keys_are_the_module_attributes(module):
    for key in LLM2VecGen.config_keys:
        assert getattr(module, key) == module.get_config_dict()[key], key
    assert module.backbone_name_or_path == module.config.backbone


def test_untrained_heads_save_no_teacher(llama_path, tmp_path):
    LLM2VecGen(llama_path, num_tokens=2).save(str(tmp_path))
    assert "trained_with" not in json.loads((tmp_path / "llm2vec_gen_config.json").read_text())


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("num_encoded_tokens", 4, "num_encoded_tokens must be in"),
        ("trained_with", {"kwargs": {}}, "trained_with must name its teacher"),
        ("max_seq_length", 3, "max_seq_length must be an integer above num_tokens=3"),
    ],
)
def test_a_setting_is_checked_when_set_and_a_refused_value_changes_nothing(module, name, value, match):
    before = module.config
    with pytest.raises(ValueError, match=match):
        setattr(module, name, value)
    assert module.config == before


def test_the_head_shape_settings_are_read_only(module):
    """N and D are the head's shape: changing them would leave the weights of another shape."""
    for name in ("num_tokens", "embedding_dim"):
        with pytest.raises(AttributeError, match=name):
            setattr(module, name, 5)
    assert (module.num_tokens, module.embedding_dim) == module.head.shape[::2] == (3, 16)


def test_config_is_a_copy(module):
    config = module.config
    config.num_tokens = 1
    assert module.num_tokens == 3 and module.config.num_tokens == 3


def test_settings_are_checked_before_the_backbone_loads():
    with pytest.raises(ValueError, match="num_encoded_tokens"):
        LLM2VecGen("/never/loaded", num_tokens=2, num_encoded_tokens=3)
    with pytest.raises(ValueError, match="trained_with"):
        LLM2VecGen("/never/loaded", trained_with={"teacher": 1})


def test_saved_names_are_read_by_st_load_config(module, tmp_path):
    """The saved ``backbone_name_or_path`` reaches the constructor as ``backbone`` through ST's key renames, and a
    config without any backbone is refused by name."""
    module.save(str(tmp_path))
    assert LLM2VecGen.load_config(str(tmp_path))["backbone"] == module.backbone_name_or_path
    saved = json.loads((tmp_path / "llm2vec_gen_config.json").read_text())
    del saved["backbone_name_or_path"]
    (tmp_path / "llm2vec_gen_config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="names no backbone"):
        LLM2VecGen.load(str(tmp_path))


@pytest.mark.parametrize("content", ["3", "null", '"text"'])
def test_a_config_that_is_not_an_object_is_named(module, tmp_path, content):
    module.save(str(tmp_path))
    (tmp_path / "llm2vec_gen_config.json").write_text(content)
    with pytest.raises(ValueError, match="llm2vec_gen_config.json must hold a JSON object"):
        LLM2VecGen.load(str(tmp_path))
