"""Scores candidate self teachers of the embedded backbone as embedders on the suite's quality tasks (no training).

    .venv/bin/python training/scripts/teacher_candidates.py --output docs/results/teacher-candidates.json

Each candidate is a :class:`~st_llm2vec_gen.training.teachers.SelfTeacher` setting (layer, style). The suite runs its
``teacher`` method alone, on the five quality tasks at full size, with texts cut at ``--max-seq-length`` tokens. The
output keeps every finished candidate, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.evaluation import EvaluationConfig, run_suite
from st_llm2vec_gen.evaluation.report import CATEGORIES, category_means
from st_llm2vec_gen.models.atomic_files import write_json
from st_llm2vec_gen.training.teachers import SELF_TEACHER, TeacherSettings

CANDIDATES = {
    "final layer, mean": {},
    "layer 20, mean": {"layer": 20},
    "layer 15, mean": {"layer": 15},
    "final layer, echo": {"style": "echo"},
    "layer 20, echo": {"layer": 20, "style": "echo"},
    "final layer, summary": {"style": "summary"},
    "layer 20, summary": {"layer": 20, "style": "summary"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
        model.max_seq_length = args.max_seq_length  # the suite caps every method at its own max_seq_length
        model.save(tmp)
        for name, options in CANDIDATES.items():
            if name in results or (args.only and name not in args.only):
                continue
            config = EvaluationConfig(
                model=tmp, tasks=list(CATEGORIES), methods=["teacher"], teacher=TeacherSettings(SELF_TEACHER, options),
                max_seq_length=args.max_seq_length, interpretability=False,
            )  # fmt: skip
            scores = run_suite(config).scores["teacher"]
            results[name] = {"options": options, "scores": scores, "categories": category_means(scores)}
            write_json(output, results)
            logging.info("%s: %s", name, results[name]["categories"])


if __name__ == "__main__":
    main()
