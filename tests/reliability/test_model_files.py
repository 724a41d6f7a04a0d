"""Damaged, missing or mismatched model files and backbone references: each is a named error.

Truncated and NaN weights, missing files and wrong backbone shapes are in tests/models/test_save_load.py; bad
published checkpoints in tests/test_convert.py. These are the rest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer

from interop.published_format import build
from st_llm2vec_gen import LLM2VecGen, create_model
from st_llm2vec_gen.convert import ConversionError, convert_checkpoint
from st_llm2vec_gen.models import load_backbone


def load(path: Path, **kwargs) -> SentenceTransformer:
    return SentenceTransformer(str(path), trust_remote_code=True, **kwargs)


@pytest.mark.parametrize(
    ("content", "match"), [("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object")]
)
def test_a_module_config_that_is_not_a_json_object_is_named(model_copy, content, match):
    (model_copy / "llm2vec_gen_config.json").write_text(content)
    with pytest.raises(ValueError, match=f"llm2vec_gen_config.json {match}"):
        load(model_copy)


@pytest.mark.parametrize("name", ["modules.json", "config_sentence_transformers.json"])
def test_damaged_sentence_transformers_files(model_copy, name, cli):
    (model_copy / name).write_text("{not json")
    with pytest.raises(json.JSONDecodeError):  # sentence-transformers reads these: its error does not name the file
        load(model_copy)
    code, err = cli("decode", "--model", model_copy, "text")  # the command line names it
    assert code == 1 and f"{name} is not valid JSON" in err


def test_an_empty_weights_file_is_refused(model_copy):
    (model_copy / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="model.safetensors: it is corrupt or truncated"):
        load(model_copy)


def test_weights_of_another_head_are_refused_by_name(model_copy, llama_path, tmp_path):
    other = create_model(llama_path, num_tokens=5, max_seq_length=32)[0]
    save_file({k: v.detach() for k, v in other.trainable_state_dict().items()}, str(model_copy / "model.safetensors"))
    with pytest.raises(ValueError, match=r"'compression_tokens' has shape \(5, 32\), expected \(2, 32\)"):
        load(model_copy)


def test_a_backbone_that_moved_away_is_named_with_the_fix(model_copy, tmp_path):
    config = json.loads((model_copy / "llm2vec_gen_config.json").read_text())
    config["backbone_name_or_path"] = str(tmp_path / "moved" / "llama")
    (model_copy / "llm2vec_gen_config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match=r"moved/llama, which does not exist: pass model_kwargs=\{'backbone'"):
        load(model_copy)


def test_a_backbone_override_that_does_not_exist(model_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="The backbone path .*/nowhere does not exist"):
        load(model_copy, model_kwargs={"backbone": str(tmp_path / "nowhere")})


@pytest.mark.parametrize(
    "path", ["/no/such/backbone", "./no-such-backbone", "../no/such", "~/no-such-backbone", "a/b/c"]
)
def test_a_missing_backbone_path_is_not_called_a_bad_repo_id(path):
    with pytest.raises(FileNotFoundError, match=f"The backbone path {path} does not exist"):
        load_backbone(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model(path)


def test_a_folder_that_is_no_model(tmp_path):
    with pytest.raises(ValueError, match="Unrecognized model"):  # transformers' message names the folder
        load_backbone(str(tmp_path))


@pytest.mark.parametrize("dtype", ["float17", "int8", "bf16", 3])
def test_an_unknown_dtype_lists_the_valid_ones(llama_path, saved_model, dtype):
    expected = "Unknown backbone dtype .*: use one of auto, bfloat16, float16, float32, float64"
    with pytest.raises(ValueError, match=expected):
        create_model(llama_path, model_kwargs={"dtype": dtype})
    with pytest.raises(ValueError, match=expected):
        load(saved_model, model_kwargs={"dtype": dtype})


@pytest.mark.parametrize("dtype", ["bfloat16", "torch.float16", "auto"])
def test_dtype_spellings_that_work(llama_path, dtype):
    module = LLM2VecGen(llama_path, num_tokens=2, model_kwargs={"dtype": dtype})
    assert str(module.backbone.dtype).removeprefix("torch.") in {"bfloat16", "float16", "float32"}


# --------------------------------------------------------------------------------------------------------------------
# The converter's inputs and outputs


@pytest.fixture()
def published(llama_path, tmp_path) -> Path:
    build(tmp_path / "published", llama_path, 2, 2)
    return tmp_path / "published"


@pytest.mark.parametrize("src", ["/no/such/checkpoint", "./no-such-checkpoint", "~/no/such"])
def test_convert_names_a_missing_source_path(src, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"The published checkpoint path {src} does not exist"):
        convert_checkpoint(src, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_file_as_source_and_a_missing_base_model(published, tmp_path):
    with pytest.raises(ConversionError, match="is a file: give the published checkpoint's directory"):
        convert_checkpoint(str(published / "run_config.yml"), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="The base model path /no/such/base does not exist"):
        convert_checkpoint(str(published), str(tmp_path / "out"), base_model="/no/such/base")
    assert not (tmp_path / "out").exists()


def test_convert_records_a_relative_base_model_as_absolute(published, llama_path, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(llama_path).parent)
    convert_checkpoint(str(published), str(tmp_path / "out"), base_model=f"./{Path(llama_path).name}")
    assert json.loads((tmp_path / "out" / "llm2vec_gen_config.json").read_text())["backbone_name_or_path"] == llama_path


def save_self_contained(model, dst: Path) -> Path:
    """Saves ``model`` with its backbone and code into ``dst``, leaving the model as it was."""
    model[0].store_backbone = True
    try:
        model.save(str(dst))
    finally:
        model[0].store_backbone = False
    return dst


def test_convert_overwrite_removes_the_old_self_contained_model(published, model, tmp_path):
    dst = save_self_contained(model, tmp_path / "dst")
    (dst / "notes.txt").write_text("mine")  # not ours: must survive
    (dst / "extra").mkdir()
    convert_checkpoint(str(published), str(dst), overwrite=True)
    assert sorted(os.listdir(dst)) == sorted([
        "config_sentence_transformers.json", "extra", "llm2vec_gen_config.json", "model.safetensors", "modules.json",
        "notes.txt",
    ])  # fmt: skip
    assert load(dst).encode(["x"]).shape == (1, 24)  # the converted head's dimension


def test_convert_overwrite_keeps_a_backbone_it_refers_to(published, model, tmp_path):
    dst = save_self_contained(model, tmp_path / "dst")
    convert_checkpoint(str(published), str(dst), base_model=str(dst / "backbone"), overwrite=True)
    assert (dst / "backbone" / "config.json").is_file() and not (dst / "st_llm2vec_gen.py").exists()
    assert load(dst).encode(["x"]).shape == (1, 24)


def test_convert_overwrite_leaves_a_folder_without_a_model_alone(published, tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "README.md").write_text("my notes")  # a README.md, but no LLM2Vec-Gen model here: never ours to delete
    (dst / "backbone").mkdir()
    convert_checkpoint(str(published), str(dst), overwrite=True)
    assert (dst / "README.md").read_text() == "my notes" and (dst / "backbone").is_dir()
