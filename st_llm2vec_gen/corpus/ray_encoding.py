"""Encoding a corpus on Ray Data: the model runs in a pool of actors (loaded once per actor, never per batch) over
``Dataset.map_batches``; the result is a Ray Dataset of ids and embeddings (:func:`encode_ray_dataset`).

Needs the ``ray`` extra (``pip install 'st-llm2vec-gen[ray]'``). Ray restarts an actor that dies (a killed worker,
a lost node) and retries the batch it held; a batch whose call *raises* is retried only if the dataset's
``DataContext.actor_task_retry_on_errors`` says so (Ray's default: fail the job). Writing the result to Parquet with
resume after an interrupted job: :mod:`st_llm2vec_gen.corpus.ray_output`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.records import TEXT_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

logger = logging.getLogger(__name__)

EMBEDDING_COLUMN = "embedding"
"""The output column of the vectors: fixed-size lists of float32, (D,) per row."""
IO_CPUS = 0.25
"""CPUs Ray reserves for each read, filter and write task: a fraction, so that they fit beside the actors on a small
machine (Ray's default of 1 CPU each waits forever for a CPU the pool holds)."""
READ_RESERVE = 1.0
"""CPUs a pool leaves free: the file-listing task that starts every Ray read takes a whole CPU, whatever the read's
``num_cpus``."""


class BadRowError(ValueError):
    """A row the encoder cannot encode (no text); its message names the row by id."""


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or an ImportError that names the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("Ray Data is not installed: pip install 'st-llm2vec-gen[ray]' (ray[data] >= 2.50)") from error
    return ray


def connect(address: str | None = None, **init_kwargs: Any) -> None:
    """Connects to a Ray cluster unless this process already is: ``address``, else ``$RAY_ADDRESS``, else a new
    local cluster on this machine (Ray's own rule for ``ray.init()``)."""
    ray = import_ray()
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    logger.info("Connecting to Ray at %s", address or "a new local cluster")
    ray.init(address=address, **init_kwargs)


def read_source(source: str | Sequence[str]) -> ray.data.Dataset:
    """A Ray Dataset over Parquet (a file or a folder of them), JSONL (``.jsonl``/``.json`` lines) or CSV files.

    Raises:
        ValueError: For another kind of file, naming the ones Ray reads.
    """
    ray = import_ray()
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    first = str(paths[0])
    if first.endswith(".parquet") or os.path.isdir(first):
        check_parquet_files(paths)
        return ray.data.read_parquet(paths, num_cpus=IO_CPUS)
    if first.endswith((".jsonl", ".json")):
        return ray.data.read_json(paths, lines=first.endswith(".jsonl"), num_cpus=IO_CPUS)
    if first.endswith(".csv"):
        return ray.data.read_csv(paths, num_cpus=IO_CPUS)
    raise ValueError(f"{first}: Ray encoding reads .parquet (or a folder of them), .jsonl and .csv files")


def check_parquet_files(paths: Sequence[str | os.PathLike]) -> None:
    """Reads the footer of every local Parquet file (in folders too), so that a damaged one is named before Ray
    reads it (Ray's own error does not say which file). Remote paths (``s3://``...) are left to Ray.

    Raises:
        ValueError: Naming the first file whose footer does not read.
    """
    import pyarrow.parquet as pq

    for path in paths:
        local = [p for p in sorted(Path(path).rglob("*.parquet")) if p.is_file()] if os.path.isdir(path) else [path]
        for file in local:
            if not os.path.isfile(file):
                continue  # a remote path, or a missing one Ray names itself
            try:
                pq.ParquetFile(file).metadata  # noqa: B018 - reading the footer is the check
            except Exception as error:  # pyarrow raises ArrowInvalid / OSError
                raise ValueError(f"{file}: not a readable Parquet file ({error}); remove or replace it") from None


def saved_prompts(model: str) -> dict[str, str] | None:
    """The prompts a local model directory declares, read without loading it; None for a hub id."""
    path = os.path.join(model, "config_sentence_transformers.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return dict(json.load(f).get("prompts") or {})


def check_prompt(prompts: dict[str, str] | None, prompt_name: str | None) -> None:
    """Raises ValueError if ``prompt_name`` is given and the model (when known) has no prompt of that name."""
    if prompt_name is not None and prompts is not None and prompt_name not in prompts:
        raise ValueError(f"Unknown prompt name {prompt_name!r}; the model has {sorted(prompts)}")


def text_column_of(names: Sequence[str], text_column: str | None) -> str:
    """The text column: ``text_column`` if given (and present), else the first of ``data.TEXT_COLUMNS`` present."""
    if text_column is not None:
        if text_column not in names:
            raise ValueError(f"The input has no column {text_column!r}; it has {list(names)}")
        return text_column
    column = next((c for c in TEXT_COLUMNS if c in names), None)
    if column is None:
        raise ValueError(f"The input has none of the text columns {TEXT_COLUMNS}; found {list(names)}: pass one")
    return column


def check_room(actors: int | tuple[int, int], num_cpus: float, cluster_cpus: float) -> str | None:
    """A warning if the pool's actors leave less than :data:`READ_RESERVE` of the cluster to Ray's read and write
    tasks: they would then wait for a free CPU forever (the job stalls); None if there is room."""
    smallest = actors[0] if isinstance(actors, tuple) else actors
    if num_cpus > 0 and smallest * num_cpus > cluster_cpus - READ_RESERVE:
        return (f"{smallest} actor(s) x {num_cpus} CPU leave no CPU of the cluster's {cluster_cpus:g} for Ray's read "
                "and write tasks: the job may stall. Give fewer CPUs per actor (--cpus-per-actor / num_cpus, e.g. "
                f"{fitting_cpus(actors, cluster_cpus):g}) or fewer actors")  # fmt: skip
    return None


def fitting_cpus(actors: int | tuple[int, int], cluster_cpus: float) -> float:
    """CPUs per actor that leave a whole CPU of the cluster to Ray's read, filter and write tasks: at most 1, in
    quarters, at least a quarter (2 actors on 2 CPUs: 0.5 each; 1 actor: 1)."""
    smallest = actors[0] if isinstance(actors, tuple) else actors
    return max(0.25, min(1.0, int((cluster_cpus - READ_RESERVE) / smallest * 4) / 4))


def actor_cpus(ray: Any, actors: int | tuple[int, int], num_cpus: float | None) -> float:
    """``num_cpus`` as given (with :func:`check_room`'s warning if it leaves no room), or for ``None`` the
    :func:`fitting_cpus` of the connected cluster as it is now (an autoscaler may still grow it)."""
    cluster_cpus = float(ray.cluster_resources().get("CPU", 0))
    if num_cpus is None:
        return fitting_cpus(actors, cluster_cpus)
    if warning := check_room(actors, num_cpus, cluster_cpus):
        logger.warning(warning)
    return num_cpus


def check_free(
    ray: Any, actors: int | tuple[int, int], num_cpus: float, num_gpus: float, patience_s: float = 20.0
) -> None:
    """Refuses to start a pool whose smallest size, with a read beside it, does not fit in the CPUs and GPUs free on
    the cluster: Ray would wait for them forever. Resources that free up within ``patience_s`` (the actors of a job
    that just ended are released asynchronously) count as free. A cluster that grows on demand (an autoscaler)
    counts only what it has: give ``MIN-MAX`` actors with a minimum that fits now.

    Raises:
        ValueError: Naming what the pool needs, what is free and how to fix it.
    """
    import time

    smallest = actors[0] if isinstance(actors, tuple) else actors
    needs = {"CPU": smallest * num_cpus + READ_RESERVE, "GPU": smallest * num_gpus}
    deadline = time.monotonic() + patience_s
    while True:
        free = ray.available_resources()
        short = [kind for kind, need in needs.items() if need > 0 and need > float(free.get(kind, 0)) + 1e-9]
        if not short:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    kind, total = short[0], float(ray.cluster_resources().get(short[0], 0))
    have = float(free.get(kind, 0))
    taken = "" if have >= total else " (other jobs hold the rest)"
    raise ValueError(
        f"The Ray cluster has {have:g} of its {total:g} {kind}(s) free{taken}, and {smallest} actor(s) need "
        f"{needs[kind]:g} with Ray's read: free them, or pass fewer --actors or a smaller --{kind.lower()}s-per-actor"
    )


def check_columns(
    dataset: ray.data.Dataset, model: str, id_column: str, text_column: str | None, prompt_name: str | None
) -> str:
    """Checks the id column, the text column and the prompt name (for a local model) in seconds, before any actor
    starts or anything is written; returns the text column.

    Raises:
        ValueError: Naming the missing column (and the ones there are) or the unknown prompt.
    """
    check_prompt(saved_prompts(model), prompt_name)
    names = dataset.schema().names
    if id_column not in names:
        raise ValueError(f"The input has no id column {id_column!r}; it has {names}: pass --id-column / id_column")
    return text_column_of(names, text_column)


def check_rows(dataset: ray.data.Dataset, id_column: str, text_column: str) -> int:
    """Reads the ids and texts once (streamed through this process) and refuses what would make the output wrong:
    a missing id, an id that occurs twice, a missing or empty text. Returns the number of rows.

    Raises:
        ValueError: Naming the rows (by id) or the duplicate ids.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = []
    for batch in dataset.select_columns([id_column, text_column]).iter_batches(batch_format="pyarrow", batch_size=None):
        texts = batch.column(text_column)
        if not pa.types.is_string(texts.type) and not pa.types.is_large_string(texts.type) and len(texts):
            raise ValueError(f"The text column {text_column!r} holds {texts.type}, not strings")
        if len(texts):
            blank = pc.or_kleene(pc.is_null(texts), pc.equal(pc.utf8_trim_whitespace(texts), ""))
            if pc.any(blank).as_py():
                row_id = batch.column(id_column).filter(pc.fill_null(blank, True))[0].as_py()
                raise ValueError(f"Row {id_column}={row_id!r}: missing or empty {text_column!r} field")
        ids.append(batch.column(id_column).combine_chunks())
    every = pa.concat_arrays(ids) if ids else pa.array([])
    if every.null_count:
        raise ValueError(f"{every.null_count} row(s) have no {id_column!r}: every row needs a unique id")
    counts = pc.value_counts(every)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
    if repeated:
        raise ValueError(f"{len(repeated)} duplicate id(s) in {id_column!r}, e.g. {repeated[:5]}: every row needs a "
                         "unique id (the output is keyed by it)")  # fmt: skip
    return len(every)


class RayEncoder:
    """The callable class each actor of the pool runs: loads the model once, then encodes batch after batch.

    Args:
        model: The saved model's path or hub id (loaded with ``trust_remote_code=True``).
        text_column: The column of the texts.
        id_column: The column of the ids, copied to the output.
        prompt_name: The model's prompt to use (``"query"``, ``"document"``, a task); None: no prompt.
        batch_size: Texts per forward pass.
        normalize: Scale the vectors to unit length.
        device: Where the actor runs the model (``"cpu"``, ``"cuda"``).
        threads: Torch threads in the actor; None: Ray's default for the actor.
        model_kwargs: Passed to the backbone (``dtype``, ...).
    """

    def __init__(
        self,
        model: str,
        text_column: str,
        id_column: str,
        prompt_name: str | None = None,
        batch_size: int = 32,
        normalize: bool = False,
        device: str = "cpu",
        threads: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(model, trust_remote_code=True, device=device, model_kwargs=model_kwargs)
        check_prompt(self.model.prompts, prompt_name)
        self.text_column, self.id_column = text_column, id_column
        self.kwargs = {"prompt_name": prompt_name, "batch_size": batch_size, "normalize_embeddings": normalize,
                       "show_progress_bar": False, "convert_to_numpy": True}  # fmt: skip

    def __call__(self, batch: pa.Table) -> pa.Table:
        """``{id, embedding}`` for a batch of rows: the ids as they came, (rows, D) float32 vectors."""
        import numpy as np
        import pyarrow as pa

        texts = batch.column(self.text_column).to_pylist()
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
        if bad is not None:
            row_id = batch.column(self.id_column)[bad].as_py()
            raise BadRowError(f"Row {self.id_column}={row_id!r}: missing or empty {self.text_column!r} field")
        vectors = np.asarray(self.model.encode(texts, **self.kwargs), dtype=np.float32)  # (rows, D)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        embedding = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
        return pa.table({self.id_column: batch.column(self.id_column), EMBEDDING_COLUMN: embedding})


def encode_ray_dataset(
    source: ray.data.Dataset | str | Sequence[str],
    model: str,
    id_column: str,
    text_column: str | None = None,
    prompt_name: str | None = None,
    batch_size: int = 32,
    block_rows: int | None = None,
    actors: int | tuple[int, int] = 2,
    num_cpus: float | None = None,
    num_gpus: float = 0.0,
    threads: int | None = None,
    normalize: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    encoder: type[RayEncoder] = RayEncoder,
    encoder_kwargs: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """Encodes a Ray Dataset (or Parquet / JSONL / CSV files) with a saved LLM2Vec-Gen model on an actor pool.

    Lazy, as Ray Datasets are: nothing runs until the result is consumed (``write_parquet``, ``iter_batches``, ...).
    Connect first (:func:`connect`, or ``ray.init``); the model path must be readable where the actors run.

    Args:
        source: A Ray Dataset, or a path (or paths) :func:`read_source` reads.
        model: The saved model's directory or hub id.
        id_column: The column of the rows' unique ids (Ray Datasets have no stable row numbers), kept in the output.
        text_column: The text column; by default the first of ``text``, ``sentence``, ... present.
        prompt_name: The model's prompt to use (``"query"``, ``"document"``, a task name), as in ``encode``.
        batch_size: Rows per actor call, and texts per forward pass.
        block_rows: Rows per block, the unit Ray hands to an actor (and at most one output file each); default 16
            batches. An input with fewer blocks than actors keeps some actors idle: lower it for a small input.
        actors: The pool size, or ``(min, max)`` for an autoscaling pool.
        num_cpus: CPUs Ray reserves per actor; None: at most 1, leaving a whole CPU of the cluster to Ray's read and
            write tasks (:func:`fitting_cpus`). Actors that reserve every CPU would stall the job (a warning says so).
        num_gpus: GPUs per actor (fractions share a GPU); > 0 runs the model on ``cuda``.
        threads: Torch threads per actor; None: ``max(1, int(num_cpus))`` on CPU.
        normalize: Scale the vectors to unit length.
        model_kwargs: Passed to the backbone, e.g. ``{"dtype": "bfloat16"}``.
        encoder: The callable class the actors run (a :class:`RayEncoder` subclass, e.g. to add columns).
        encoder_kwargs: Further arguments of ``encoder``'s constructor.

    Returns:
        A Dataset with the columns ``id_column`` and ``embedding`` (fixed-size lists of float32).

    Raises:
        ValueError: For a missing id or text column, an unknown prompt name, or bad sizes.
    """
    ray = import_ray()
    block_rows = block_rows or 16 * batch_size
    if batch_size < 1 or block_rows < 1 or (num_cpus or 0) < 0 or num_gpus < 0:
        raise ValueError(f"batch_size, block_rows must be >= 1, num_cpus, num_gpus >= 0: got {batch_size}, "
                         f"{block_rows}, {num_cpus}, {num_gpus}")  # fmt: skip
    dataset = source if isinstance(source, ray.data.Dataset) else read_source(source)
    column = check_columns(dataset, model, id_column, text_column, prompt_name)
    pool = (
        ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1])
        if isinstance(actors, tuple)
        else ray.data.ActorPoolStrategy(size=actors)
    )
    num_cpus = actor_cpus(ray, actors, num_cpus)
    device = "cuda" if num_gpus > 0 else "cpu"
    kwargs = {"model": model, "text_column": column, "id_column": id_column, "prompt_name": prompt_name,
              "batch_size": batch_size, "normalize": normalize, "device": device,
              "threads": threads or (None if num_gpus > 0 else max(1, int(num_cpus))),
              "model_kwargs": model_kwargs, **(encoder_kwargs or {})}  # fmt: skip
    blocks = dataset.select_columns([id_column, column]).repartition(target_num_rows_per_block=block_rows)
    return blocks.map_batches(
        encoder,
        fn_constructor_kwargs=kwargs,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=pool,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
