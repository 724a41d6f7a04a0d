"""Suite results -> Markdown tables: quality per task and category, safety, cost per query, decoded samples.

The tables read :class:`~.results.SuiteResults`; a results JSON file reads with :meth:`SuiteResults.read`.
"""

from __future__ import annotations

from .results import SuiteResults, TaskScores
from .suite import METHODS

CATEGORIES = {
    "OfflineSTSBenchmark": "STS",
    "OfflineBanking77Classification": "Classification",
    "OfflineEmotionClassification": "Classification",
    "OfflineBanking77Clustering": "Clustering",
    "OfflineSciFact": "Retrieval",
}
"""Quality tasks by category; the safety task (AdvBench-IR) is reported apart: lower is better there."""
SAFETY_TASK = "OfflineAdvBenchIR"


def ordered_methods(results: SuiteResults) -> list[str]:
    """The methods present in ``results``, in :data:`METHODS` order, then any others."""
    return [m for m in METHODS if m in results.scores] + [m for m in results.scores if m not in METHODS]


def category_means(scores: dict[str, TaskScores]) -> dict[str, float]:
    """Mean main score per category (x100) and ``average`` over categories, for the tasks a method ran."""
    by_category: dict[str, list[float]] = {}
    for task, category in CATEGORIES.items():
        if task in scores:
            by_category.setdefault(category, []).append(100 * scores[task]["main_score"])
    means = {category: sum(v) / len(v) for category, v in by_category.items()}
    if means and len(means) == len({c for t, c in CATEGORIES.items()}):
        means["average"] = sum(means.values()) / len(means)
    return means


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def quality_table(results: SuiteResults) -> str:
    """One row per method: each quality task, category means and their average (x100), seconds per query."""
    tasks = [t for t in CATEGORIES if any(t in s for s in results.scores.values())]
    categories = list(dict.fromkeys(CATEGORIES[t] for t in tasks))
    short = [t.removeprefix("Offline") for t in tasks]
    header = ["method", *short, *[f"**{c}**" for c in categories], "**average**", "s/query"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in ordered_methods(results):
        scores = results.scores[method]
        means = category_means(scores)
        cells = [_cell(100 * scores[t]["main_score"]) if t in scores else "–" for t in tasks]
        cells += [_cell(means.get(c)) for c in categories] + [_cell(means.get("average"))]
        cells.append(f"{results.seconds_per_query.get(method, float('nan')):.3f}")
        lines.append("| " + " | ".join([method, *cells]) + " |")
    if {"llm2vec_gen", "teacher"} <= set(results.scores):
        lines.append(_student_minus_teacher(results, tasks, categories))
    return "\n".join(lines)


def _student_minus_teacher(results: SuiteResults, tasks: list[str], categories: list[str]) -> str:
    """The row that answers "does the student beat its teacher?": differences x100, per task and category."""
    student, teacher = results.scores["llm2vec_gen"], results.scores["teacher"]
    diffs = [100 * (student[t]["main_score"] - teacher[t]["main_score"]) if t in student and t in teacher else None
             for t in tasks]  # fmt: skip
    s_means, t_means = category_means(student), category_means(teacher)
    diffs += [s_means[c] - t_means[c] if c in s_means and c in t_means else None for c in [*categories, "average"]]
    cells = ["–" if d is None else f"{d:+.1f}" for d in diffs]
    return "| " + " | ".join(["*student − teacher*", *cells, ""]) + " |"


def safety_table(results: SuiteResults) -> str:
    """Rate of harmful passages in the top 1/5/20 per method (%, lower is safer)."""
    lines = ["| method | harmful@1 | harmful@5 | harmful@20 |", "|---|---|---|---|"]
    for method in ordered_methods(results):
        if SAFETY_TASK in results.scores[method]:
            s = results.scores[method][SAFETY_TASK]
            cells = [_cell(100 * s[f"precision_at_{k}"]) for k in (1, 5, 20)]
            lines.append("| " + " | ".join([method, *cells]) + " |")
    return "\n".join(lines)


def samples_table(results: SuiteResults) -> str:
    """Decoded embedding, logit lens and the LLM's own answer for each sample query."""
    lines = [
        "| source | query | decoded from the embedding | logit lens | the LLM's own answer |",
        "|---|---|---|---|---|",
    ]
    for row in results.interpretability or []:
        cells = [row["source"], row["query"], row["decoded"], ", ".join(row["logit_lens"]), row["llm_answer"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def markdown_report(results: SuiteResults) -> str:
    """The three tables, as pasted into docs/results.md."""
    return "\n\n".join(
        [
            "### Quality (x100; main score per task, mean per category)",
            quality_table(results),
            "### Safety: AdvBench-IR, harmful passages in the top k (%, lower is safer)",
            safety_table(results),
            "### Decoded samples",
            samples_table(results),
        ]
    )
