"""Encoding a corpus on Ray Data: the model runs in a pool of actors (loaded once per actor, never per batch) over
``Dataset.map_batches``; the result is a Ray Dataset of ids and embeddings (:func:`encode_ray_dataset`).

Needs the ``ray`` extra (``pip install 'st-llm2vec-gen[ray]'``). Ray restarts an actor that dies (a killed worker,
a lost node) and retries the batch it held; a batch whose call *raises* is retried only if the dataset's
``DataContext.actor_task_retry_on_errors`` says so (Ray's default: fail the job). Writing the result to Parquet with
resume after an interrupted job: :mod:`st_llm2vec_gen.corpus.ray_output`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.prompts import check_prompt_name, saved_prompts
from ..io.ray_cluster import (
    IO_CPUS,
    actor_cpus,
    actor_pool,
    actor_threads,
    import_ray,
)
from ..io.records import pick_text_column

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

EMBEDDING_COLUMN = "embedding"
"""The output column of the vectors: fixed-size lists of float32, (D,) per row."""


class BadRowError(ValueError):
    """A row the encoder cannot encode (no text); its message names the row by id."""


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


def check_columns(
    dataset: ray.data.Dataset, model: str, id_column: str, text_column: str | None, prompt_name: str | None
) -> str:
    """Checks the id column, the text column and the prompt name (for a local model) in seconds, before any actor
    starts or anything is written; returns the text column.

    Raises:
        ValueError: Naming the missing column (and the ones there are) or the unknown prompt.
    """
    check_prompt_name(saved_prompts(model) if os.path.isdir(model) else None, prompt_name)  # a hub id: no network
    names = dataset.schema().names
    if id_column not in names:
        raise ValueError(f"The input has no id column {id_column!r}; it has {names}: pass --id-column / id_column")
    return pick_text_column(names, text_column)


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
        check_prompt_name(self.model.prompts, prompt_name)
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
    Connect first (:func:`~st_llm2vec_gen.io.ray_cluster.connect`, or ``ray.init``); the model path must be readable
    where the actors run.

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
            write tasks (:func:`~st_llm2vec_gen.io.ray_cluster.fitting_cpus`). Actors that reserve every CPU would
            stall the job (a warning says so).
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
    num_cpus = actor_cpus(ray, actors, num_cpus)
    device = "cuda" if num_gpus > 0 else "cpu"
    kwargs = {"model": model, "text_column": column, "id_column": id_column, "prompt_name": prompt_name,
              "batch_size": batch_size, "normalize": normalize, "device": device,
              "threads": actor_threads(threads, num_cpus, num_gpus),
              "model_kwargs": model_kwargs, **(encoder_kwargs or {})}  # fmt: skip
    blocks = dataset.select_columns([id_column, column]).repartition(target_num_rows_per_block=block_rows)
    return blocks.map_batches(
        encoder,
        fn_constructor_kwargs=kwargs,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=actor_pool(ray, actors),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
