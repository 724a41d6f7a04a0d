"""Plots the suite's quality categories of the embedded default's training chain against the samples it has seen.

pip install matplotlib  # only this script needs it
python training/scripts/plot_suite_curve.py docs/results/suite-curve.json docs/images/suite-curve.png

The spec lists the points (``samples`` seen from the untrained head, and the results JSON of ``llm2vec-gen evaluate``
for that head; ``"side": true`` for runs off the shipped chain, drawn as crosses) and the teachers drawn as
horizontal lines (their ``categories`` in ``docs/results/teacher-candidates.json``). Categories as in
docs/training.md: STS-B, the mean of the two classification tasks, Banking77 clustering, SciFact retrieval, and their
average.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from st_llm2vec_gen.evaluation.report import category_means  # noqa: E402
from st_llm2vec_gen.evaluation.results import SuiteResults  # noqa: E402

CATEGORIES = ("STS", "Classification", "Clustering", "Retrieval", "average")


def categories(results_path: str) -> dict[str, float]:
    """The four categories (x 100) and their average from a results JSON of the suite."""
    return category_means(SuiteResults.read(results_path).scores["llm2vec_gen"])


def main(spec_path: str, image_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    chain = [p for p in spec["points"] if not p.get("side")]
    points = [(p["samples"], categories(p["results"]), p["label"]) for p in sorted(chain, key=lambda p: p["samples"])]
    side = [(p["samples"], categories(p["results"]), p["label"]) for p in spec["points"] if p.get("side")]
    teachers = json.loads(Path(spec["teachers"]).read_text(encoding="utf-8"))
    fig, axes = plt.subplots(1, len(CATEGORIES), figsize=(17, 3.8))
    for ax, name in zip(axes, CATEGORIES):
        ax.plot([s for s, _, _ in points], [c[name] for _, c, _ in points], marker="o", label="student (the chain)")
        ax.scatter([s for s, _, _ in side], [c[name] for _, c, _ in side], marker="x", color="C3", label="side runs")
        for teacher, style in zip(spec["teacher_lines"], ("--", ":")):
            ax.axhline(teachers[teacher]["categories"][name], linestyle=style, color="grey", label=teacher)
        ax.set_title(name)
        ax.set_xlabel("training samples seen")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(image_path, dpi=100)
    for samples, values, label in points + side:
        print(f"{samples:>6}  {label:<56}" + "  ".join(f"{n} {values[n]:.1f}" for n in CATEGORIES))


if __name__ == "__main__":
    main(*sys.argv[1:3])
