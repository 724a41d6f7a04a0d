"""The LangChain and LlamaIndex retrieval examples, run as a user runs them: on a tiny model, and on the default one."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

EXAMPLES = Path(__file__).parents[2] / "examples"
CASES = {  # example -> the package it needs
    "retrieval_langchain": "langchain_huggingface",
    "retrieval_llamaindex": "llama_index.embeddings.huggingface",
}
HIT = re.compile(r"^  ([+-]\d\.\d{3})  \[(\d+)\] ")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *args: str, timeout: int = 300) -> dict[str, list[tuple[float, int]]]:
    """Runs an example and parses its report: query -> [(score, document id), ...] as printed."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    hits: dict[str, list[tuple[float, int]]] = {}
    query = None
    for line in result.stdout.splitlines():
        if match := HIT.match(line):
            hits[query].append((float(match[1]), int(match[2])))
        elif line and not line.startswith(("Top-1", " ")):
            query = line
            hits[query] = []
    assert re.search(r"^Top-1 correct: \d/\d$", result.stdout, re.M), result.stdout
    return hits


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_ranks_as_sentence_transformers_does(name, model_path):
    """On the tiny model of conftest.py: every document listed per query, in ST's order with ST's cosine scores."""
    pytest.importorskip(CASES[name])
    example = load_example(name)
    hits = run_example(name, "--model", model_path, "--k", str(len(example.DOCUMENTS)))
    queries = [query for query, _ in example.QUERIES]
    assert list(hits) == queries
    model = SentenceTransformer(model_path, trust_remote_code=True)
    scores = model.similarity(model.encode_query(queries), model.encode_document(example.DOCUMENTS)).numpy()
    for query, row in zip(queries, scores):
        printed_scores, printed_ids = zip(*hits[query])
        np.testing.assert_allclose(printed_scores, np.sort(row)[::-1], atol=1.5e-3)  # printed with 3 decimals
        assert sorted(printed_ids) == list(range(len(example.DOCUMENTS)))
        # Each rank holds a document with ST's score for that rank (ids could swap only where scores tie).
        np.testing.assert_allclose(row[list(printed_ids)], np.sort(row)[::-1], atol=1e-6)


@pytest.mark.backbone
@pytest.mark.parametrize("name", sorted(CASES))
def test_example_retrieves_the_answers_with_the_default_model(name):
    pytest.importorskip(CASES[name])
    example = load_example(name)
    hits = run_example(name, timeout=900)
    assert [hits[query][0][1] for query, _ in example.QUERIES] == [answer for _, answer in example.QUERIES]
