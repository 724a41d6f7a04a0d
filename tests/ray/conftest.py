"""One local Ray cluster for every Ray test (starting one costs seconds), and a tiny model with its texts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def ray_cluster():
    """A 2-CPU local cluster; its workers import the tests' helpers (``ray_faults``, ``tiny_models``)."""
    import ray.data

    paths = (str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", ""))
    pythonpath = os.pathsep.join(p for p in paths if p)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield ray
    ray.shutdown()


WORDS = (
    "polar bears live in the arctic on sea ice near the north pole capital of france is paris a city on the river "
    "seine photosynthesis turns sunlight water and carbon dioxide into sugar oxygen penguins transformer network"
).split()


def corpus_texts(count: int) -> list[str]:
    """``count`` distinct texts of 3 to 14 words drawn deterministically from a small vocabulary."""
    return [f"{i} " + " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 12)) for i in range(count)]


@pytest.fixture(scope="session")
def ray_model(chat_model_dir) -> str:
    """The tiny LLM2Vec-Gen model (random Llama backbone with a chat template) the Ray tests encode with."""
    return chat_model_dir
