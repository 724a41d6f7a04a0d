"""Typed suite results: the JSON layout the suite writes, read back for the report and the scripts."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen.evaluation.report import markdown_report, ordered_methods
from st_llm2vec_gen.evaluation.results import SuiteResults

SCORES = {"teacher": {"OfflineSciFact": {"main_score": 0.5}}, "llm2vec_gen": {"OfflineSciFact": {"main_score": 0.6}}}


def test_the_json_form_keeps_the_file_layout_and_leaves_out_what_was_not_measured(tmp_path):
    results = SuiteResults(config={"model": "m"}, environment={"cpu": "x"}, scores=SCORES,
                           seconds_per_query={"teacher": 0.1, "llm2vec_gen": 0.2})  # fmt: skip
    assert list(results.to_dict()) == ["config", "environment", "scores", "seconds", "seconds_per_query"]
    results.interpretability = []
    assert list(results.to_dict())[-1] == "interpretability"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results.to_dict()))
    assert SuiteResults.read(path) == results
    assert ordered_methods(results) == ["llm2vec_gen", "teacher"]  # METHODS order, not the file's
    assert "| *student − teacher* | +10.0 |" in markdown_report(results)


def test_a_file_that_is_not_results_is_named(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"points": []}))
    with pytest.raises(ValueError, match=r"other.json: Not evaluation results \(no 'scores'; found \['points'\]\)"):
        SuiteResults.read(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="other.json is not valid JSON"):
        SuiteResults.read(path)
