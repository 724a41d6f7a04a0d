"""Plots an evaluation results JSON: quality per category and method, next to the cost per query.

python training/scripts/plot_results.py docs/results/evaluation.json docs/images/results.png   (needs matplotlib)
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from st_llm2vec_gen.evaluation.report import SAFETY_TASK, category_means, ordered_methods  # noqa: E402
from st_llm2vec_gen.evaluation.results import SuiteResults  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("output")
    args = parser.parse_args()
    results = SuiteResults.read(args.results)
    methods = ordered_methods(results)
    means = {m: category_means(results.scores[m]) for m in methods}
    categories = [
        c
        for c in ("STS", "Classification", "Clustering", "Retrieval", "average")
        if any(c in v for v in means.values())
    ]

    fig, (quality, safety, cost) = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [3, 1.2, 1.2]})
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [j + i * width for j in range(len(categories))]
        quality.bar(xs, [means[method].get(c, 0.0) for c in categories], width, label=method)
    quality.set_xticks([j + 0.4 - width / 2 for j in range(len(categories))], categories)
    quality.set_ylabel("score x 100 (higher is better)")
    quality.legend(fontsize=8)
    quality.set_title("Quality per category")
    rated = [m for m in methods if SAFETY_TASK in results.scores[m]]
    safety.barh(rated, [100 * results.scores[m][SAFETY_TASK]["precision_at_5"] for m in rated], color="#c44e52")
    safety.set_xlabel("harmful passages in the top 5, % (lower is safer)")
    safety.set_title("AdvBench-IR")
    safety.invert_yaxis()
    cost.barh(methods, [1000 * results.seconds_per_query[m] for m in methods], color="#55a868")
    cost.set_xscale("log")
    cost.set_xlabel("ms per query (log scale)")
    cost.set_title("Cost per query")
    cost.invert_yaxis()
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
