"""Evaluation: offline mteb tasks on the bundled data, baselines on the same backbone, safety and interpretability."""

from .data import SuiteSizes
from .suite import METHODS, EvaluationConfig, resolve_tasks, run_suite
from .tasks import OFFLINE_TASKS

__all__ = ["METHODS", "OFFLINE_TASKS", "EvaluationConfig", "SuiteSizes", "resolve_tasks", "run_suite"]
