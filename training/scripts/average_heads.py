"""Averages the trained heads of runs that share a start: a uniform "model soup" (Wortsman et al., 2022).

    python training/scripts/average_heads.py outputs/run-a/final outputs/run-b/final --output outputs/soup/final

Runs continued from the same head (same backbone, tokens and settings, other data orders) stay close in weight space,
and their mean often embeds better than either. Only the trainable head is averaged (compression tokens, R, A); the
backbone is the one named in the saved settings. The output is a standard saved model: the first run's folder with
the mean weights and a README line naming what was averaged. It refuses heads whose settings differ (another
backbone, token count or prompts) and an existing output folder unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from st_llm2vec_gen.models.atomic_files import atomic_write
from st_llm2vec_gen.models.saved_format import CONFIG_NAME, ST_CONFIG_NAME, WEIGHTS_NAME, read_weights, write_weights

SETTINGS = (CONFIG_NAME, ST_CONFIG_NAME, "modules.json")


def read_head(folder: Path) -> dict[str, torch.Tensor]:
    """The head's tensors (:func:`read_weights`: a corrupt file or NaN/inf refused, naming the file)."""
    if not (folder / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"{folder} has no {WEIGHTS_NAME}: give the `final` folder of a training run")
    return read_weights(str(folder / WEIGHTS_NAME))


def check_same_settings(folders: list[Path]) -> None:
    """Refuses heads whose saved settings differ: their weights mean different things."""
    first = folders[0]
    for folder in folders:
        missing = [name for name in SETTINGS if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {missing}: give the `final` folder of a training run")
    for folder in folders[1:]:
        for name in SETTINGS:
            mine, theirs = (json.loads((f / name).read_text(encoding="utf-8")) for f in (first, folder))
            if mine != theirs:
                raise ValueError(f"{folder / name} differs from {first / name}: only heads of the same settings "
                                 "(backbone, token count, prompts) can be averaged")


def average(heads: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of heads with the same names, shapes and dtypes (computed in float64)."""
    names = set(heads[0])
    for head in heads[1:]:
        if set(head) != names:
            raise ValueError(f"the heads hold different tensors: {sorted(names ^ set(head))}")
    mean = {}
    for name in sorted(names):
        stack = torch.stack([head[name].double() for head in heads])  # (runs, *shape)
        mean[name] = stack.mean(dim=0).to(heads[0][name].dtype).contiguous()
    return mean


def write_soup(folders: list[Path], output: Path, overwrite: bool) -> None:
    """Writes the first folder's files with the mean weights to ``output``, all or nothing."""
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    check_same_settings(folders)
    weights = average([read_head(folder) for folder in folders])
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for path in folders[0].iterdir():
            if path.is_file() and path.name != WEIGHTS_NAME:
                shutil.copy2(path, staging / path.name)
        write_weights(str(staging), weights)
        note = "\n\nThis head is the uniform average of the heads of: " + ", ".join(str(f) for f in folders) + ".\n"
        readme = staging / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else ""
        atomic_write(readme, lambda tmp: Path(tmp).write_text(text + note, encoding="utf-8"))
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("heads", nargs="+", type=Path, help="saved models (training runs' `final` folders)")
    parser.add_argument("--output", type=Path, required=True, help="folder for the averaged model")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = parser.parse_args()
    if len(args.heads) < 2:
        parser.error("give at least two heads to average")
    try:
        write_soup(args.heads, args.output, args.overwrite)
    except (OSError, ValueError) as error:  # a user's mistake or a bad file: the message, not a stack trace
        raise SystemExit(f"average_heads.py: {error}") from None
    print(f"wrote {args.output}: mean of {len(args.heads)} heads")


if __name__ == "__main__":
    main()
