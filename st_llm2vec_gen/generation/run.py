"""One generation job, as ``llm2vec-gen generate`` runs it: the engine it names answers one shard of the queries into
that shard's response file (:func:`generate`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..io.output_lock import lock_beside
from ..io.ray_cluster import connect
from ..models.atomic_files import check_writable
from ..models.backbones import EMBEDDED_BACKBONE
from .engines import Engine, GenerationSettings, TransformersEngine, VLLMEngine
from .fast_engine import cpu_engine
from .ray import generate_on_ray
from .responses import generate_responses
from .shards import shard_path

logger = logging.getLogger(__name__)

ENGINES = ("transformers", "vllm", "ray", "ray-vllm")
"""The engines a job can use: transformers and vLLM in this process, a Transformers actor pool on Ray Data, and
``ray.data.llm``'s vLLM processor."""


@dataclass(frozen=True)
class EngineChoice:
    """Which engine answers, with what backbone, and where.

    Attributes:
        kind: One of :data:`ENGINES`.
        backbone: Hub id, local directory, ``.gguf`` file; default: the embedded backbone.
        dtype: Backbone dtype; None: float32 (a greedy answer then does not depend on the queries beside it).
        device: Device of the transformers engine (e.g. ``cuda:1``); None: cuda when available, else cpu.
        fast_greedy: Answer greedy float32 CPU batches with FastGreedy (the same answers, faster).
        actors: Ray actor pool size, or ``(min, max)``.
        cpus_per_actor: CPUs Ray reserves per actor; None: what fits the cluster.
        gpus_per_actor: GPUs per Ray actor.
    """

    kind: str = "transformers"
    backbone: str = EMBEDDED_BACKBONE
    dtype: str | None = None
    device: str | None = None
    fast_greedy: bool = True
    actors: int | tuple[int, int] = 2
    cpus_per_actor: float | None = None
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ValueError(f"Unknown engine {self.kind!r}: choose one of {', '.join(ENGINES)}")

    @property
    def on_ray(self) -> bool:
        """Whether the engine runs on a Ray cluster."""
        return self.kind.startswith("ray")

    def load(self) -> Engine:
        """The engine of this process (transformers, with FastGreedy unless turned off, or vLLM).

        Raises:
            ValueError: For a Ray engine: its engines live in the actors (:func:`generate` starts them).
        """
        if self.on_ray:
            raise ValueError(f"The {self.kind} engine runs in Ray actors, not in this process: use generate()")
        if self.kind == "vllm":
            return VLLMEngine(self.backbone, **({"dtype": self.dtype} if self.dtype else {}))
        engine = TransformersEngine.from_pretrained(self.backbone, dtype=self.dtype, device=self.device)
        return cpu_engine(engine) if self.fast_greedy else engine


def generate(
    choice: EngineChoice,
    queries: list[str],
    output: str,
    settings: GenerationSettings | None = None,
    shard: tuple[int, int] = (0, 1),
    ids: Iterable[int] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Answers one shard of ``queries`` with the chosen engine into that shard's response file.

    The output is checked (a file path in a writable folder, no other live writer) before any model loads.

    Args:
        choice: The engine.
        queries: Query texts; a row's ``id`` is the query's index in this list.
        output: The JSONL response file; with several shards, each writes its own
            (:func:`~.shards.shard_path`: ``responses.shard-0-of-2.jsonl``).
        settings: Decoding settings.
        shard: ``(index, count)``: answer the queries whose id modulo count equals index.
        ids: Answer only these query ids; None: all of the shard.

    Returns:
        The shard's response file and all its rows of this shard, in id order.

    Raises:
        IsADirectoryError: If the shard's output is a folder.
        OSError: If its folder cannot be written to; ``OutputLockedError`` if another live process writes it.
        ValueError: As :func:`~.responses.generate_responses`.
    """
    path = shard_path(output, shard)
    if os.path.isdir(path):
        raise IsADirectoryError(f"--output {path} is a folder: give the path of a .jsonl file")
    check_writable(os.path.dirname(os.path.abspath(path)), "output folder")  # before loading the backbone
    with lock_beside(path):  # a second run on the same output stops here, before loading anything
        if choice.on_ray:
            return path, _generate_on_ray(choice, queries, path, settings, shard, ids)
        return path, generate_responses(choice.load(), queries, path, settings, shard=shard, ids=ids)


def _generate_on_ray(
    choice: EngineChoice,
    queries: list[str],
    path: str,
    settings: GenerationSettings | None,
    shard: tuple[int, int],
    ids: Iterable[int] | None,
) -> list[dict[str, Any]]:
    """:func:`generate` with a Ray engine, on the cluster of ``$RAY_ADDRESS`` (else a local one)."""
    connect()
    return generate_on_ray(
        choice.backbone, queries, path, settings, shard=shard, ids=ids, dtype=choice.dtype,
        vllm=choice.kind == "ray-vllm", actors=choice.actors, num_cpus=choice.cpus_per_actor,
        num_gpus=choice.gpus_per_actor,
    )  # fmt: skip
