"""sentence-transformers' multi-process pool with self-contained models (loaded from the directory's own code).

The pool pickles the model into spawned worker processes. The class of a self-contained model comes from its
directory (a transformers dynamic module), not from the package: pickle must name that module, not the package's
``st_llm2vec_gen.LLM2VecGen`` (which it would refuse as "not the same object", or fail to import without the package).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import LLM2VecGen, create_model

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

TEXTS = ["Where do polar bears live?", "Paris is the capital of France.", "Photosynthesis makes sugar."] * 3

# Installed as sitecustomize.py on PYTHONPATH, so that the spawned workers cannot import the package either.
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "st_llm2vec_gen":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
"""

POOL_RUN = """
import sys
import numpy as np
from sentence_transformers import SentenceTransformer

model = SentenceTransformer(sys.argv[1], trust_remote_code=True)
single = model.encode_query(sys.argv[3:])
pool = model.start_multi_process_pool(["cpu", "cpu"])
try:
    pooled = model.encode_query(sys.argv[3:], pool=pool, chunk_size=2)  # several chunks: both workers take part
finally:
    model.stop_multi_process_pool(pool)
np.save(sys.argv[2], np.stack([single, pooled]))
assert not any(m.split(".")[0] == "st_llm2vec_gen" for m in sys.modules), "the package was imported"
"""


def self_contained(backbone_path: str, folder) -> SentenceTransformer:
    model = create_model(backbone_path, num_tokens=3, max_seq_length=40, seed=1)
    model[0].store_backbone = True
    model.save(str(folder))
    return model


def test_self_contained_model_encodes_in_a_pool_without_the_package(llama_path, tmp_path):
    model = self_contained(llama_path, tmp_path / "model")
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(tmp_path / "block")
    out = tmp_path / "vectors.npy"
    args = [sys.executable, "-c", POOL_RUN, str(tmp_path / "model"), str(out), *TEXTS]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    single, pooled = np.load(out)
    assert np.abs(pooled - single).max() <= 1e-5
    assert np.abs(single - model.encode_query(TEXTS)).max() <= 1e-5


def test_self_contained_class_pickles_by_its_own_module_and_saves_under_the_stable_name(llama_path, tmp_path):
    self_contained(llama_path, tmp_path / "model")
    loaded = SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True)
    cls = type(loaded[0])
    assert cls is not LLM2VecGen and cls.__module__.startswith("transformers_modules.")
    assert type(pickle.loads(pickle.dumps(loaded[0]))) is cls  # what the pool does, in one process
    assert LLM2VecGen.__module__ == "st_llm2vec_gen"  # the package's class keeps the saved name
    loaded.save(str(tmp_path / "again"))
    modules = json.loads((tmp_path / "again" / "modules.json").read_text())
    assert modules[0]["type"] == "st_llm2vec_gen.LLM2VecGen"
