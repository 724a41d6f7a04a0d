"""The evaluation suite's results: what :func:`~.suite.run_suite` returns and writes, and what the report reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TaskScores = dict[str, float]
"""A task's scores: ``main_score`` (and the safety task's ``precision_at_k``)."""


@dataclass
class SuiteResults:
    """Scores and costs of every method on every task, with the settings and machine that produced them.

    Its JSON form (:meth:`to_dict`, the file ``llm2vec-gen evaluate --output`` writes) keeps these names as keys.

    Attributes:
        config: The :class:`~.suite.EvaluationConfig` as a mapping, with the teacher the teacher row used.
        environment: The machine and library versions (``cpu``, ``torch``, ``mteb``, ...).
        scores: ``{method: {task: {"main_score": ..., ...}}}``.
        seconds: ``{method: {task: wall seconds}}``.
        seconds_per_query: ``{method: seconds}`` to embed one query, from a cold cache.
        hyde_answers: Up to 20 of HyDE's hypothetical documents by query, when HyDE ran.
        interpretability: One row per sample query (``source``, ``query``, ``decoded``, ``logit_lens``,
            ``llm_answer``), when the report was asked for.
    """

    config: dict[str, Any]
    environment: dict[str, Any]
    scores: dict[str, dict[str, TaskScores]] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds_per_query: dict[str, float] = field(default_factory=dict)
    hyde_answers: dict[str, str] | None = None
    interpretability: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every attribute as a key, those not measured (``None``) left out."""
        out = {"config": self.config, "environment": self.environment, "scores": self.scores,
               "seconds": self.seconds, "seconds_per_query": self.seconds_per_query}  # fmt: skip
        if self.hyde_answers is not None:
            out["hyde_answers"] = self.hyde_answers
        if self.interpretability is not None:
            out["interpretability"] = self.interpretability
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteResults:
        """Results from their JSON form (:meth:`to_dict`).

        Raises:
            ValueError: If ``scores`` is missing, naming the keys there are (not a results file).
        """
        if not isinstance(data, dict) or "scores" not in data:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"Not evaluation results (no 'scores'; found {found}): pass the JSON that "
                             "`llm2vec-gen evaluate --output` writes")  # fmt: skip
        return cls(
            config=data.get("config", {}),
            environment=data.get("environment", {}),
            scores=data["scores"],
            seconds=data.get("seconds", {}),
            seconds_per_query=data.get("seconds_per_query", {}),
            hyde_answers=data.get("hyde_answers"),
            interpretability=data.get("interpretability"),
        )

    @classmethod
    def read(cls, path: str | Path) -> SuiteResults:
        """Results from a JSON file written by :func:`~.suite.run_suite` (``llm2vec-gen evaluate --output``)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
