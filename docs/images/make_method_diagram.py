"""Draws docs/images/method.png, the LLM2Vec-Gen diagram in docs/method.md.

python docs/images/make_method_diagram.py   (needs matplotlib)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

FROZEN, TRAINED, DATA, TEACHER = "#dfe7f2", "#fde2c4", "#eeeeee", "#d9f0d3"


def box(ax, x, y, w, h, text, color, size=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color, ec="#555555"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, wrap=True)


def arrow(ax, start, end, text="", dashed=False, bend=0.0):
    style = "--" if dashed else "-"
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2, ls=style, color="#333333",
                                 connectionstyle=f"arc3,rad={bend}"))  # fmt: skip
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2, text, fontsize=8, color="#333333")


def main() -> None:
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.set_xlim(0, 11.5)
    ax.set_ylim(0, 5.2)
    ax.axis("off")
    # Encoding path (top row, left to right).
    box(ax, 0.1, 3.9, 2.1, 0.8, "query text\n(+ instruction)", DATA)
    box(ax, 2.6, 3.9, 1.6, 0.8, "N compression\ntokens c1..cN", TRAINED)
    box(ax, 4.6, 3.7, 2.0, 1.2, "frozen decoder LLM\n(one copy, no LM head)", FROZEN)
    box(ax, 7.0, 3.9, 1.5, 0.8, "h: final states\nat c1..cN", DATA)
    box(ax, 8.9, 3.9, 1.9, 0.8, "R(h): soft prompt\n(B, N, H)", TRAINED)
    box(ax, 8.9, 2.5, 1.9, 0.8, "embedding =\nmean A(R(h))  (B, D)", TRAINED)
    arrow(ax, (2.2, 4.3), (2.6, 4.3))
    arrow(ax, (4.2, 4.3), (4.6, 4.3))
    arrow(ax, (6.6, 4.3), (7.0, 4.3))
    arrow(ax, (8.5, 4.3), (8.9, 4.3))
    arrow(ax, (9.85, 3.9), (9.85, 3.3), "A, mean")
    # Training targets (bottom row).
    box(ax, 0.1, 1.2, 2.1, 0.8, "the LLM's own answer\n(generated once)", DATA)
    box(ax, 8.9, 0.3, 1.9, 1.0, "frozen LLM predicts\nthe answer after R(h)", FROZEN)
    box(ax, 4.6, 0.3, 2.0, 1.0, "reconstruction\ncross-entropy", "#ffffff")
    box(ax, 4.6, 2.0, 2.0, 0.9, "teacher encodes\nthe answer", TEACHER)
    box(ax, 7.0, 2.0, 1.5, 0.9, "alignment\nMSE", "#ffffff")
    arrow(ax, (1.15, 3.9), (1.15, 2.0), "LLM generates", dashed=True)
    arrow(ax, (2.2, 1.6), (4.6, 2.4))
    arrow(ax, (2.2, 1.5), (4.6, 0.8), "  targets")
    arrow(ax, (6.6, 2.45), (7.0, 2.45))
    arrow(ax, (8.9, 2.8), (8.5, 2.6))
    arrow(ax, (10.8, 4.1), (10.75, 1.3), bend=-0.35)
    arrow(ax, (8.9, 0.8), (6.6, 0.8), "logits")
    for i, (color, label) in enumerate(
        [(FROZEN, "frozen"), (TRAINED, "trained (a few MB)"), (TEACHER, "teacher (self: the frozen LLM)")]
    ):
        box(ax, 0.1 + 2.6 * i, 0.0 if i else 0.0, 0.3, 0.25, "", color)
        ax.text(0.5 + 2.6 * i, 0.12, label, fontsize=8, va="center")
    ax.text(5.5, 5.05, "LLM2Vec-Gen: embed the answer the LLM would give, in one forward pass", ha="center",
            fontsize=11, weight="bold")  # fmt: skip
    out = Path(__file__).with_name("method.png")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
