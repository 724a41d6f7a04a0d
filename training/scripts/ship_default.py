"""Ships a trained head as the embedded default model, with every generated page that shows it made again.

    python training/scripts/ship_default.py --head outputs/smollm2-135m-v17/final \
        --recipe training/recipes/smollm2-135m-cpu-v17.yaml --name v17 --samples 25440 \
        --label "stage 15" --training-data "1,200 instructed + 17,063 corpus + 2,580 sentiment answers"

Steps, each one command of the project (run from the repository root, after setup.sh and `pip install matplotlib`;
~20 min on 2 cores):

1. the head's ``model.safetensors`` and ``llm2vec_gen_config.json`` into ``st_llm2vec_gen/default_model`` (the rest
   of the directory, its prompts and modules, stays, and so does its ``max_seq_length``; the head must be for the
   embedded backbone);
2. the full offline suite of the default alone (``llm2vec-gen evaluate --methods llm2vec_gen``) into
   ``docs/results/evaluation-default-NAME-llm2vec_gen.json``; its rows replace the ``llm2vec_gen`` rows of
   ``docs/results/evaluation.json`` (the other methods do not depend on the head), and ``evaluation.md`` is
   written from the result;
3. the model card (``write_model_card.py``) from the recipe and the new results;
4. the suite curve gains the head's point (``--samples``, the 5-task JSON ``docs/results/ablation/NAME.json``) and
   both plots are drawn again (``plot_suite_curve.py``, ``plot_results.py``; matplotlib);
5. the decoding page (``docs/results/decoding-page.jsonl``: ``llm2vec-gen decode`` of its four texts).

The prose of docs/results.md, docs/decoding.md and docs/training.md quotes these files and is edited by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from st_llm2vec_gen import DEFAULT_MODEL, EMBEDDED_BACKBONE
from st_llm2vec_gen.evaluation.report import markdown_report
from st_llm2vec_gen.evaluation.results import SuiteResults
from st_llm2vec_gen.models.atomic_files import atomic_write, write_json

RESULTS = Path("docs/results")
WEIGHTS, CONFIG = "model.safetensors", "llm2vec_gen_config.json"
DECODING_TEXTS = [
    "Where do polar bears live?", "What is the capital of France?", "How do I bake bread?",
    "Write a poem about the sea.",
]  # fmt: skip
METHOD = "llm2vec_gen"


def install_head(head: Path, model_dir: Path) -> None:
    """Copies the head's weights and config into the default model's directory (each under a temporary name first),
    keeping the default's ``max_seq_length`` (the length users get, not the training runs' shorter one)."""
    config = json.loads((head / CONFIG).read_text(encoding="utf-8"))
    if config.get("backbone_name_or_path") != EMBEDDED_BACKBONE:
        raise SystemExit(f"{head} is a head for {config.get('backbone_name_or_path')!r}, not {EMBEDDED_BACKBONE}")
    config["max_seq_length"] = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))["max_seq_length"]
    atomic_write(model_dir / WEIGHTS, lambda tmp: shutil.copyfile(head / WEIGHTS, tmp))
    write_json(model_dir / CONFIG, config)


def write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` under a temporary name first."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def run(*command: str) -> None:
    """Runs one step, failing the whole ship on its failure."""
    logging.info("$ %s", " ".join(command))
    subprocess.run(command, check=True)


def merge_results(own: Path, full: Path, note: str) -> None:
    """The default's own run replaces the llm2vec_gen rows of the full run (scores, times, samples); its settings and
    machine are kept beside them as ``llm2vec_gen_run``."""
    new, results = SuiteResults.read(own), SuiteResults.read(full)
    results.scores[METHOD] = new.scores[METHOD]
    results.seconds[METHOD] = new.seconds[METHOD]
    results.seconds_per_query[METHOD] = new.seconds_per_query[METHOD]
    results.interpretability = new.interpretability
    run_of_the_default = {"config": new.config, "environment": new.environment, "note": note}
    write_json(full, {**results.to_dict(), f"{METHOD}_run": run_of_the_default})
    write_text(full.with_suffix(".md"), markdown_report(results) + "\n")


def add_curve_point(curve: Path, samples: int, label: str, results: Path) -> None:
    """Appends the shipped head's point to the suite curve (once)."""
    spec = json.loads(curve.read_text(encoding="utf-8"))
    if not any(point["results"] == str(results) for point in spec["points"]):
        spec["points"].append({"samples": samples, "label": label, "results": str(results)})
        write_text(curve, json.dumps(spec, indent=2) + "\n")  # the file's own key order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", required=True, type=Path, help="the trained head's directory (RUN/final)")
    parser.add_argument("--recipe", required=True, help="the recipe it was trained with")
    parser.add_argument("--name", required=True, help="its name in result files, e.g. v17")
    parser.add_argument("--samples", required=True, type=int, help="samples seen from the untrained head")
    parser.add_argument("--label", required=True, help="its label on the suite curve, e.g. 'stage 15'")
    parser.add_argument("--training-data", required=True, help="one line on the training data, for the card")
    parser.add_argument("--reuse-evaluation", action="store_true",
                        help="step 2: reuse the results of an earlier run of this command")  # fmt: skip
    args = parser.parse_args()
    if importlib.util.find_spec("matplotlib") is None:
        raise SystemExit("The plots need matplotlib: .venv/bin/python -m pip install matplotlib")
    five_tasks = RESULTS / "ablation" / f"{args.name}.json"
    if not five_tasks.is_file():
        raise SystemExit(f"{five_tasks} is missing: evaluate the head on the 5-task suite first (docs/training.md)")

    cli, python, model = str(Path(sys.executable).with_name("llm2vec-gen")), sys.executable, Path(DEFAULT_MODEL)
    install_head(args.head, model)
    own = RESULTS / f"evaluation-default-{args.name}-{METHOD}.json"
    if not (args.reuse_evaluation and own.is_file()):
        run(cli, "evaluate", "--model", str(model), "--methods", METHOD, "--output", str(own), "--overwrite")
    merge_results(own, RESULTS / "evaluation.json", f"{args.label} ({args.recipe}), {METHOD} alone")
    full, curve = str(RESULTS / "evaluation.json"), str(RESULTS / "suite-curve.json")
    run(python, "training/scripts/write_model_card.py", "--model", str(model), "--recipe", args.recipe,
        "--training-data", args.training_data, "--results", full, "--overwrite")  # fmt: skip
    add_curve_point(Path(curve), args.samples, args.label, five_tasks)
    run(python, "training/scripts/plot_suite_curve.py", curve, "docs/images/suite-curve.png")
    run(python, "training/scripts/plot_results.py", full, "docs/images/results.png")
    decoded = subprocess.run([cli, "decode", "--model", str(model), "--max-new-tokens", "40", *DECODING_TEXTS],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
    write_text(RESULTS / "decoding-page.jsonl", decoded)
    logging.info("Shipped %s: now edit the prose of docs/results.md, docs/decoding.md and docs/training.md", args.head)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()
