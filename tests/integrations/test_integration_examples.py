"""The LangChain and LlamaIndex retrieval examples, run as a user runs them: a persistent FAISS index of the bundled
Wikipedia passages, built in one process and reloaded in another, on a tiny model and on the default one."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

EXAMPLES = Path(__file__).parents[2] / "examples"
CASES = {  # example -> the packages it needs
    "retrieval_langchain": ("langchain_huggingface", "langchain_community", "faiss"),
    "retrieval_llamaindex": ("llama_index.embeddings.huggingface", "llama_index.vector_stores.faiss", "faiss"),
}
HIT = re.compile(r"^  ([+-]\d\.\d{3})  \[(\d+)\] ")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *args: str, timeout: int = 300) -> tuple[str, dict[str, list[tuple[float, int]]]]:
    """Runs an example; returns its first line (built or loaded) and its report: question -> [(score, passage id)]."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    hits: dict[str, list[tuple[float, int]]] = {}
    question = None
    lines = result.stdout.splitlines()
    for line in lines[1:]:
        if match := HIT.match(line):
            hits[question].append((float(match[1]), int(match[2])))
        elif line and not line.startswith(("Top-1", " ")):
            question = line
            hits[question] = []
    assert re.search(r"^Top-1 from the right article: \d/\d$", result.stdout, re.M), result.stdout
    return lines[0], hits


def _needs(name: str) -> None:
    for package in CASES[name]:
        pytest.importorskip(package)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reloaded_index_gives_the_top_k_of_exact_cosine_search(name, model_path, tmp_path):
    """Built in one process, loaded in another: the reloaded index returns exact cosine search's top-k over the
    same vectors (ST's encode_document of every passage against encode_query), with its scores."""
    _needs(name)
    example, k, index = load_example(name), 5, str(tmp_path / "index")
    built, first = run_example(name, "--model", model_path, "--index", index, "--k", str(k))
    loaded, hits = run_example(name, "--model", model_path, "--index", index, "--k", str(k))
    assert built.startswith("Built and saved the index of 568 passages") and loaded.startswith("Loaded the index")
    questions = [question for question, _ in example.QUESTIONS]
    assert list(hits) == questions and hits == first
    model = SentenceTransformer(model_path, trust_remote_code=True)
    texts = [p.page_content if hasattr(p, "page_content") else p.text for p in example.passages()]
    scores = model.similarity(model.encode_query(questions), model.encode_document(texts)).numpy()  # (3, 568)
    for question, row in zip(questions, scores):
        exact = np.argsort(-row, kind="stable")[:k]
        printed_scores, printed_ids = zip(*hits[question])
        np.testing.assert_allclose(printed_scores, row[exact], atol=1.5e-3)  # printed with 3 decimals
        assert list(printed_ids) == exact.tolist()


@pytest.mark.backbone
@pytest.mark.parametrize("name", sorted(CASES))
def test_example_retrieves_from_the_right_article_with_the_default_model(name, tmp_path):
    """The real model over every 4th passage (142, all 8 articles; the whole 568 cost 8 CPU-minutes per example)."""
    _needs(name)
    example = load_example(name)
    _, hits = run_example(name, "--index", str(tmp_path / "index"), "--k", "1", "--every", "4", timeout=1800)
    texts = {p.metadata["id"]: p.metadata["title"] for p in example.passages()}
    assert [texts[hits[q][0][1]] for q, _ in example.QUESTIONS] == [title for _, title in example.QUESTIONS]
