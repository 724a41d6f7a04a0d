"""Plots a run's training curve (alignment, reconstruction, total) from its log_history.json.

pip install matplotlib  # only this script needs it
python training/scripts/plot_curve.py outputs/smollm2-135m/log_history.json docs/images/training-curve-smollm2.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(history_path: str, image_path: str) -> None:
    logs = [log for log in json.load(open(history_path, encoding="utf-8")) if "alignment" in log]
    steps = [log["step"] for log in logs]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ("loss", "alignment", "reconstruction")):
        ax.plot(steps, [log[key] for log in logs])
        titles = {"loss": "total loss", "alignment": "alignment (MSE)", "reconstruction": "reconstruction (CE)"}
        ax.set_title(titles[key])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(image_path, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:3])
