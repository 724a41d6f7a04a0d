"""Saving and loading LLM2VecGen as a standard ST directory: round trips, self-contained dirs, bad files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from tiny_models import save_backbone

from st_llm2vec_gen import DEFAULT_PROMPTS, LLM2VecGen, create_model
from st_llm2vec_gen.models import LLM2VecGenConfig

TEXTS = ["Where do polar bears live?", "Paris is the capital of France.", "Photosynthesis makes sugar."]


@pytest.fixture()
def model(backbone_path):
    model = create_model(backbone_path, num_tokens=3, max_seq_length=40, seed=1)
    with_noise = {k: v + 0.01 for k, v in model[0].trainable_state_dict().items()}
    model[0].load_trainable_state(with_noise)  # not the initial values: a reload must not fall back to them
    return model


def test_round_trip_by_reference_is_exact(model, tmp_path, backbone_path):
    model.save(str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert "backbone" not in names and "st_llm2vec_gen.py" not in names
    assert os.path.getsize(tmp_path / "model.safetensors") < 100_000  # the head only, never the backbone
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert modules[0]["type"] == "st_llm2vec_gen.LLM2VecGen"
    config = json.loads((tmp_path / "config_sentence_transformers.json").read_text())
    assert "st-llm2vec-gen" in config["requirements"]
    assert config["prompts"]["query"] == DEFAULT_PROMPTS["query"]

    loaded = SentenceTransformer(str(tmp_path), trust_remote_code=True)
    assert isinstance(loaded[0], LLM2VecGen)
    assert loaded[0].backbone_name_or_path == backbone_path
    np.testing.assert_array_equal(loaded.encode_query(TEXTS), model.encode_query(TEXTS))
    np.testing.assert_array_equal(loaded.encode_document(TEXTS), model.encode_document(TEXTS))


def test_missing_package_gives_an_install_hint(model, tmp_path):
    model.save(str(tmp_path))
    path = tmp_path / "config_sentence_transformers.json"
    config = json.loads(path.read_text())
    config["requirements"]["st-llm2vec-gen"]["specifier"] = ">=99"  # as if the package were missing or too old
    path.write_text(json.dumps(config))
    with pytest.raises(ImportError, match="pip install"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)


BLOCKED_IMPORT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "st_llm2vec_gen":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], trust_remote_code=True)
np.save(sys.argv[2], model.encode_query(sys.argv[3:]))
assert type(model[0]).__name__ == "LLM2VecGen"
assert not any(m.split(".")[0] == "st_llm2vec_gen" for m in sys.modules), "the package was imported"
"""


def test_self_contained_dir_loads_without_the_package(model, tmp_path):
    model[0].store_backbone = True
    model.save(str(tmp_path / "model"))
    assert (tmp_path / "model" / "backbone" / "config.json").is_file()
    assert (tmp_path / "model" / "st_llm2vec_gen.py").is_file()
    config = json.loads((tmp_path / "model" / "config_sentence_transformers.json").read_text())
    assert "st-llm2vec-gen" not in config["requirements"]

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    out = tmp_path / "embeddings.npy"
    args = [sys.executable, "-c", BLOCKED_IMPORT, str(tmp_path / "model"), str(out), *TEXTS]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out), model.encode_query(TEXTS))


def test_backbone_override_and_mismatch(model, tmp_path):
    model.save(str(tmp_path / "model"))
    other = save_backbone(tmp_path / "other", "llama", hidden_size=64)
    with pytest.raises(ValueError, match="hidden size"):
        SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True, model_kwargs={"backbone": other})


def test_vocabulary_mismatch(model, tmp_path):
    model.save(str(tmp_path / "model"))
    hidden = model[0].hidden_size
    arch = model[0].backbone.config.model_type
    other = save_backbone(tmp_path / "other", arch, hidden_size=hidden, vocab_size=512)
    with pytest.raises(ValueError, match="vocabulary 400"):
        SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True, model_kwargs={"backbone": other})


def test_missing_and_corrupt_weights(model, tmp_path):
    model.save(str(tmp_path))
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)
    (tmp_path / "llm2vec_gen_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="llm2vec_gen_config.json"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)


def test_backbone_object_without_path_needs_store_backbone(backbone_path, tmp_path):
    loaded = LLM2VecGen(backbone_path)
    module = LLM2VecGen(loaded.backbone, tokenizer=loaded.tokenizer)
    module.backbone_name_or_path = ""
    with pytest.raises(ValueError, match="store_backbone=True"):
        module.save(str(tmp_path))


def test_wrong_shaped_weights_are_named(model):
    weights = dict(model[0].trainable_state_dict())
    weights["alignment.weight"] = weights["alignment.weight"][:2]
    with pytest.raises(ValueError, match="alignment.weight"):
        model[0].load_trainable_state(weights)


def test_relative_backbone_path_is_recorded_absolute(backbone_path, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(backbone_path).parent)
    module = LLM2VecGen(Path(backbone_path).name, num_tokens=2)
    assert module.backbone_name_or_path == backbone_path


def test_saved_dtype_is_the_default_on_reload(backbone_path, tmp_path):
    model = create_model(backbone_path, num_tokens=2, model_kwargs={"dtype": "bfloat16"})
    model.save(str(tmp_path))
    assert json.loads((tmp_path / "llm2vec_gen_config.json").read_text())["dtype"] == "bfloat16"
    assert SentenceTransformer(str(tmp_path), trust_remote_code=True)[0].backbone.dtype == torch.bfloat16
    fp32 = SentenceTransformer(str(tmp_path), trust_remote_code=True, model_kwargs={"dtype": "float32"})
    assert fp32[0].backbone.dtype == torch.float32


def test_missing_stored_backbone_is_an_error(model, tmp_path):
    model[0].store_backbone = True
    model.save(str(tmp_path))
    shutil.rmtree(tmp_path / "backbone")
    with pytest.raises(FileNotFoundError, match="backbone/ is missing"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)


RESAVE = BLOCKED_IMPORT.replace(
    "np.save(sys.argv[2], model.encode_query(sys.argv[3:]))",
    "model.save(sys.argv[2] + '.dir')\n"
    "again = SentenceTransformer(sys.argv[2] + '.dir', trust_remote_code=True)\n"
    "np.save(sys.argv[2], again.encode_query(sys.argv[3:]))",
)


def test_loaded_self_contained_model_saves_again_without_the_package(model, tmp_path):
    model[0].store_backbone = True
    model.save(str(tmp_path / "model"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    out = tmp_path / "again.npy"
    args = [sys.executable, "-c", RESAVE, str(tmp_path / "model"), str(out), *TEXTS]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out), model.encode_query(TEXTS))
    assert (tmp_path / "again.npy.dir" / "modules.json").is_file()


def test_load_builds_the_module_from_its_saved_config(model, tmp_path):
    model.save(str(tmp_path))
    saved = json.loads((tmp_path / "llm2vec_gen_config.json").read_text())
    config, shape = LLM2VecGenConfig.from_saved(saved, "test")
    loaded = LLM2VecGen.load(str(tmp_path))
    assert loaded.config == config == model[0].config
    assert shape == loaded.backbone_shape
    saved["num_tokenz"] = 3
    (tmp_path / "llm2vec_gen_config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="num_tokenz"):
        LLM2VecGen.load(str(tmp_path))


def test_non_finite_weights_are_refused(model, tmp_path):
    model.save(str(tmp_path))
    weights = {k: v.detach().clone() for k, v in model[0].trainable_state_dict().items()}
    weights["alignment.bias"][0] = float("nan")
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="NaN or infinite values in \\['alignment.bias'\\]"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)


@pytest.mark.parametrize("bad", [0, 3, -1, 2.5])
def test_max_seq_length_must_leave_room_for_the_tokens(model, bad):
    with pytest.raises(ValueError, match="max_seq_length must be an integer above num_tokens=3"):
        model.max_seq_length = bad
    assert model[0].max_seq_length == 40


def test_saving_leaves_no_temporary_files(model, tmp_path):
    model[0].store_backbone = True
    model.save(str(tmp_path))
    model.save(str(tmp_path))  # over an existing directory: files replaced, backbone folder swapped
    assert not [p.name for p in tmp_path.rglob(".*")]
