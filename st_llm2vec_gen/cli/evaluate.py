"""``llm2vec-gen evaluate``: its options come from :class:`~st_llm2vec_gen.evaluation.EvaluationConfig`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from .options import add_options, json_object


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    """The ``evaluate`` command, or a stand-in that says how to install the ``eval`` extra (mteb)."""
    from .. import DEFAULT_MODEL
    from ..evaluation.bright_prompts import STUDENT_SETS
    from ..quantization import QUANTIZATIONS

    try:
        from ..evaluation import METHODS, OFFLINE_TASKS, EvaluationConfig
        from ..evaluation.suite import PROMPT_SOURCES
    except ImportError as error:  # the `eval` extra (mteb) is not installed: every other command still works
        reason = str(error)
        missing = sub.add_parser("evaluate", help="mteb evaluation (needs: pip install 'st-llm2vec-gen[eval]')")
        missing.set_defaults(run=lambda args: _missing_extra(reason))
        return

    ev = sub.add_parser(
        "evaluate",
        help="mteb evaluation of a model and its baselines (offline bundled tasks by default)",
        description="Runs the model, its teacher, mean/last-token pooling of the backbone, HyDE and all-MiniLM-L6-v2 "
        f"on the same tasks. Bundled offline tasks: {', '.join(OFFLINE_TASKS)}. Other names are mteb tasks or "
        "benchmarks (e.g. 'MTEB(eng, v2)', 'llm2vec-gen-lite' for the paper's lite set, 'BRIGHT' or 'BRIGHT (long)' "
        "for BRIGHT as one task per domain) and need the hub.",
    )
    choices = {"methods": METHODS, "prompts": PROMPT_SOURCES, "bright_instructions": STUDENT_SETS,
               "quantize": QUANTIZATIONS}  # fmt: skip
    defaults = {"model": DEFAULT_MODEL, "output": "results.json"}
    add_options(ev, EvaluationConfig, skip=("teacher", "sizes"), types={"data_dir": str}, choices=choices,
                defaults=defaults)  # fmt: skip
    ev.set_defaults(run=_evaluate)
    ev.add_argument("--teacher", default=None,
                    help="'self' or the teacher's sentence-transformers path/id (default: the one the model was "
                         "trained with, as it records it; else 'self', mean pooling)")  # fmt: skip
    ev.add_argument("--teacher-kwargs", type=json_object, default=None,
                    help="the teacher's options as JSON, e.g. '{\"layer\": 20}' (with them, the teacher is --teacher, "
                         "default 'self')")  # fmt: skip
    ev.add_argument("--markdown", default=None, help="also write the Markdown tables here")
    ev.add_argument("--overwrite", action="store_true", help="replace existing --output/--markdown files")
    ev.add_argument("--tiny", action="store_true", help="a few texts per task: a smoke run in minutes")


def _evaluate(args: argparse.Namespace) -> None:
    from ..evaluation import EvaluationConfig, SuiteSizes, run_suite
    from ..evaluation.report import markdown_report
    from ..models.atomic_files import atomic_write
    from ..models.saved_format import check_model_reference
    from ..training.teachers import SELF_TEACHER, TeacherSettings

    for path in (args.output, args.markdown):
        if path and Path(path).exists() and not args.overwrite:
            raise ValueError(f"{path} exists; pass --overwrite to replace it")
    given = {f.name: getattr(args, f.name) for f in fields(EvaluationConfig) if f.name not in ("teacher", "sizes")}
    teacher = None
    if args.teacher is not None or args.teacher_kwargs is not None:
        teacher = TeacherSettings(args.teacher or SELF_TEACHER, args.teacher_kwargs or {})
    config = EvaluationConfig(
        **{**given, "model": check_model_reference(args.model, "model")},
        teacher=teacher,
        sizes=SuiteSizes.tiny() if args.tiny else SuiteSizes(),
    )
    results = run_suite(config)
    if args.markdown:
        report = markdown_report(results) + "\n"
        atomic_write(args.markdown, lambda tmp: Path(tmp).write_text(report, encoding="utf-8"))
    print(markdown_report(results))


def _missing_extra(reason: str) -> None:
    raise ImportError(f"evaluate needs the eval extra: pip install 'st-llm2vec-gen[eval]' ({reason})")
