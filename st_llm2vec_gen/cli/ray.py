"""The Ray Data options of ``llm2vec-gen encode`` and ``generate`` (``--engine ray``), and the Ray path of ``encode``.

Both connect to the cluster named by ``$RAY_ADDRESS`` (e.g. ``ray://head:10001`` or ``auto``), else start a local one.
"""

from __future__ import annotations

import argparse
import logging
import os

from .options import non_negative

logger = logging.getLogger("st_llm2vec_gen")


def _actors(text: str) -> int | tuple[int, int]:
    """``N`` or ``MIN-MAX`` (an autoscaling pool)."""
    low, sep, high = text.partition("-")
    try:
        sizes = (int(low), int(high)) if sep else (int(low),)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX actors (e.g. 4 or 2-8), got {text!r}") from None
    if min(sizes) < 1 or (sep and sizes[0] > sizes[1]):
        raise argparse.ArgumentTypeError(f"expected N >= 1 or 1 <= MIN <= MAX, got {text!r}")
    return sizes if sep else sizes[0]


def add_ray_options(cmd: argparse.ArgumentParser) -> None:
    """The actor pool's options, used with ``--engine ray``."""
    group = cmd.add_argument_group("Ray (--engine ray; cluster from $RAY_ADDRESS, else a local one)")
    group.add_argument("--actors", type=_actors, default=2, help="actor pool size, N or MIN-MAX (default 2)")
    group.add_argument("--cpus-per-actor", type=non_negative, default=None,
                       help="CPUs Ray reserves per actor (default: at most 1, leaving a whole CPU of the cluster for "
                            "reading and writing; 2 actors on 2 CPUs get 0.5)")  # fmt: skip
    group.add_argument("--gpus-per-actor", type=non_negative, default=0.0, help="GPUs per actor (default 0)")


def encode_with_ray(args: argparse.Namespace) -> None:
    """``encode --engine ray``: Parquet/JSONL/CSV in, a folder of Parquet files (ids + embedding) out, resumable."""
    from ..corpus.ray_output import encode_to_parquet
    from ..io.ray_cluster import connect

    if args.texts or not args.input:
        raise ValueError("--engine ray reads --input (Parquet, JSONL or CSV), not texts on the command line")
    if not args.id_column:
        raise ValueError("--engine ray needs --id-column: Ray Datasets have no stable row numbers to use as ids")
    from ..corpus import EncodeSettings

    if (
        args.output.endswith(".npy")
        or args.devices
        or args.shard != (0, 1)
        or args.chunk_size != EncodeSettings.chunk_size
    ):
        raise ValueError("--engine ray writes a folder of Parquet files: --devices, --shard, --chunk-size and a .npy "
                         "output belong to the default engine (Ray spreads the work itself: --actors)")  # fmt: skip
    if not os.path.exists(args.input):
        raise FileNotFoundError(f"Input not found: {args.input}")
    connect()
    manifest = encode_to_parquet(
        args.input, args.model, args.output, id_column=args.id_column, prompt_name=args.prompt_name,
        normalize=args.normalize, overwrite=args.overwrite, text_column=args.column, batch_size=args.batch_size,
        actors=args.actors, num_cpus=args.cpus_per_actor, num_gpus=args.gpus_per_actor,
    )  # fmt: skip
    logger.info("%s: %d row(s) encoded by this run, %d in all", args.output, manifest["encoded"], manifest["rows"])
