"""Evaluation: offline mteb tasks on the bundled data, baselines on the same backbone, safety and interpretability.

The names below need mteb (the ``eval`` extra) and are imported on first use, so that the prompt tables in this
package (``mteb_prompts``, ``bright_prompts``) and the CLI's options load without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "SuiteSizes": "bundled_data", "METHODS": "suite", "EvaluationConfig": "suite", "resolve_tasks": "suite",
    "run_suite": "suite", "OFFLINE_TASKS": "tasks", "SuiteResults": "results",
}  # fmt: skip

__all__ = ["METHODS", "OFFLINE_TASKS", "EvaluationConfig", "SuiteResults", "SuiteSizes", "resolve_tasks", "run_suite"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
