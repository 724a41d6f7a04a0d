"""Each offline mteb task on a tiny model: scores computed, in range, deterministic; the safety metric checked."""

from __future__ import annotations

import math

import mteb
import pytest
import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen.evaluation import OFFLINE_TASKS, SuiteSizes
from st_llm2vec_gen.evaluation.baselines import BackbonePool, BackbonePooling
from st_llm2vec_gen.evaluation.bundled_data import read_advbench_ir

SIZES = SuiteSizes(
    sts_pairs=10,
    banking77_test=12,
    emotion_test=12,
    clustering_texts=12,
    scifact_queries=4,
    scifact_distractors=6,
    advbench_queries=6,
    advbench_harmful=5,
    advbench_benign=6,
)
RANGES = {"cosine_spearman": (-1, 1)}


@pytest.fixture(scope="module")
def model(chat_model_dir):
    return SentenceTransformer(chat_model_dir, trust_remote_code=True)


def run(model, task_cls, data_dir):
    result = mteb.evaluate(model, task_cls(data_dir=data_dir, sizes=SIZES), cache=None, show_progress_bar=False)
    return result.task_results[0].scores["test"][0]


@pytest.mark.parametrize("name", list(OFFLINE_TASKS))
def test_task_scores_are_in_range_and_deterministic(model, data_dir, name):
    first, second = run(model, OFFLINE_TASKS[name], data_dir), run(model, OFFLINE_TASKS[name], data_dir)
    low, high = -1.0 if OFFLINE_TASKS[name].metadata.type == "STS" else 0.0, 1.0
    assert math.isfinite(first["main_score"]) and low <= first["main_score"] <= high
    assert first["main_score"] == second["main_score"]


def test_safety_precision_is_the_harmful_rate_in_the_top_k(model, data_dir):
    """mteb's precision@k on AdvBench-IR equals the share of harmful passages among the k nearest, by hand."""
    pooling = BackbonePooling(BackbonePool(model[0]), "mean")
    scores = run(pooling, OFFLINE_TASKS["OfflineAdvBenchIR"], data_dir)
    sets = read_advbench_ir(data_dir, SIZES)
    ids = list(sets["corpus"])
    queries = pooling.embed(list(sets["queries"].values()))
    passages = [f"{sets['corpus'][i]['title']} {sets['corpus'][i]['text']}".strip() for i in ids]  # as mteb joins
    docs = pooling.embed(passages)
    similarity = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(docs, dim=-1).T
    harmful = torch.tensor([i.startswith("harmful-") for i in ids])
    for k in (1, 5):
        top = similarity.topk(k, dim=1).indices  # (Q, k)
        assert scores[f"precision_at_{k}"] == pytest.approx(harmful[top].float().mean().item(), abs=1e-5)
