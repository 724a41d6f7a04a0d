"""Ray-encoded vectors in a folder of Parquet files, resumable after the whole job was interrupted.

Ray retries failed tasks within a job but does not resume a half-written output after the job dies. Here every run
writes through a staging folder and only complete files are renamed into place, so the folder holds whole files::

    vectors/
      manifest.json              settings; "complete" once every input row has its vector
      part-<run>_..._<task>.parquet  columns: the id column, "embedding" (fixed-size list of float32)
      .staging-<run>/            Ray writes here; complete files are moved up when the run ends (or by the next run)

A rerun of the same command first moves the complete files a killed run left in its staging folder into place (a
Parquet file whose footer reads is complete: the footer is written last) and deletes the rest, then reads the ids
already written and encodes only the rows whose ids are not among them. Nothing is encoded twice and nothing is lost;
:func:`load_parquet_embeddings` checks that the ids are unique.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.output_lock import lock_beside
from ..io.ray_cluster import IO_CPUS, actor_cpus, check_free, import_ray
from ..models.atomic_files import write_json
from .ray_encoding import EMBEDDING_COLUMN, BadRowError, check_columns, check_rows, encode_ray_dataset, read_source

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "st_llm2vec_gen.ray_parquet"


def encode_to_parquet(
    source: ray.data.Dataset | str | Sequence[str],
    model: str,
    output: str | os.PathLike,
    id_column: str,
    prompt_name: str | None = None,
    normalize: bool = False,
    overwrite: bool = False,
    **encode_kwargs: Any,
) -> dict[str, Any]:
    """Encodes ``source`` on Ray into Parquet files in ``output``, skipping the ids an earlier run wrote.

    Args:
        source: A Ray Dataset or input path(s) (see :func:`~st_llm2vec_gen.corpus.ray_encoding.read_source`).
        model: The saved model's directory or hub id.
        output: The output folder (created if absent).
        id_column: The column of the rows' unique ids.
        prompt_name: The model's prompt to use.
        normalize: Unit-length vectors.
        overwrite: Replace an output written with other settings.
        **encode_kwargs: Passed to :func:`~st_llm2vec_gen.corpus.ray_encoding.encode_ray_dataset` (``actors``,
            ``num_cpus``, ``num_gpus``, ``batch_size``, ``text_column``, ...).

    Returns:
        The manifest: settings, ``rows`` written in all, ``input_rows``, ``encoded`` by this run, ``complete``.

    Raises:
        ValueError: Before anything is written, for a missing column, a missing id or text, a duplicate id, an unknown
            prompt, or a pool that does not fit the cluster's free CPUs; after the run, for a row the encoder refused
            (one line, naming it).
        FileExistsError: If ``output`` holds an output of other settings (or other files) and not ``overwrite``.
        OutputLockedError: If another live process is writing ``output``.
    """
    import pyarrow.compute as pc

    ray = import_ray()
    folder = Path(output)
    pool = pool_cpus(ray, encode_kwargs)  # first: on a cluster without room even the checks below would wait
    dataset = source if isinstance(source, ray.data.Dataset) else read_source(source)
    text_column = check_columns(dataset, model, id_column, encode_kwargs.get("text_column"), prompt_name)
    total = check_rows(dataset, id_column, text_column)  # distinct ids, every text present: before anything is written
    settings = {"format": FORMAT, "model": model, "id_column": id_column, "prompt_name": prompt_name,
                "normalize": bool(normalize), "text_column": encode_kwargs.get("text_column")}  # fmt: skip
    if not isinstance(source, ray.data.Dataset):
        settings["input"] = [os.path.abspath(p) for p in ([source] if isinstance(source, str) else source)]
    with lock_beside(folder):
        _prepare(folder, settings, overwrite)
        done = written_ids(folder, id_column)
        if len(done) == total:  # e.g. a rerun of a finished job: no actor is started
            logger.info("%s: all %d row(s) are written already", folder, total)
            return _finish(folder, settings, total, encoded=0, id_column=id_column)
        if len(done):
            logger.info("%s: %d id(s) already written, encoding the rest", folder, len(done))

            def todo(batch: pa.Table) -> pa.Table:
                return batch.filter(pc.invert(pc.is_in(batch.column(id_column), value_set=done)))

            dataset = dataset.map_batches(todo, batch_format="pyarrow", num_cpus=IO_CPUS)
        encoded = encode_ray_dataset(dataset, model, id_column, prompt_name=prompt_name, normalize=normalize,
                                     **{**encode_kwargs, "num_cpus": pool})  # fmt: skip
        run = uuid.uuid4().hex[:12]
        staging = folder / f".staging-{run}"
        try:
            encoded.write_parquet(str(staging), filename_provider=_part_names(run),
                                  ray_remote_args={"num_cpus": IO_CPUS})  # fmt: skip
        except Exception as error:
            raise _user_error(error) from None
        moved = _promote(staging, folder)
        return _finish(folder, settings, total, encoded=moved, id_column=id_column)


def pool_cpus(ray: Any, encode_kwargs: dict[str, Any]) -> float:
    """The CPUs per actor (given, or what fits the cluster), checked against what the cluster has free now."""
    actors = encode_kwargs.get("actors", 2)
    cpus = actor_cpus(ray, actors, encode_kwargs.get("num_cpus"))
    check_free(ray, actors, cpus, encode_kwargs.get("num_gpus", 0.0))
    return cpus


def _user_error(error: BaseException) -> BaseException:
    """The :class:`BadRowError` inside a Ray task error (its one line, without Ray's traceback), else ``error``."""
    seen, current = set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current) is BadRowError:
            return ValueError(str(current))
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return error


def _finish(folder: Path, settings: dict[str, Any], total: int, encoded: int, id_column: str) -> dict[str, Any]:
    """Records the run in the manifest; complete when every one of the ``total`` distinct input ids has exactly one
    vector."""
    import pyarrow.compute as pc

    ids = written_ids(folder, id_column)
    rows = pc.count_distinct(ids).as_py() if len(ids) else 0
    complete = rows == total == len(ids)
    manifest = {"settings": settings, "rows": rows, "input_rows": total, "encoded": encoded, "complete": complete}
    write_json(folder / MANIFEST, manifest)
    if not complete:
        raise ValueError(f"{folder} holds {len(ids)} vectors of {rows} distinct ids for {total} input rows: rerun the "
                         "same command to encode what is missing")  # fmt: skip
    logger.info("%s: %d row(s) encoded by this run, %d in all", folder, encoded, rows)
    return manifest


def _part_names(run: str) -> Any:
    """Ray's file names for this run: ``part-<run>_<write>_<task>.parquet`` (a retried task rewrites its own name)."""
    from ray.data.datasource import FilenameProvider

    class PartNames(FilenameProvider):
        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{run}_{write_uuid}_{task_index:06d}.parquet"

    return PartNames()


def _prepare(folder: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Checks the settings against an earlier run's (or clears its output with ``overwrite``), moves the complete
    files of interrupted runs into place and records the settings (``complete`` false until this run ends)."""
    import json

    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))["settings"]
        if previous != settings:
            if not overwrite:
                raise FileExistsError(
                    f"{folder} holds vectors written with other settings ({previous}); pass --overwrite "
                    "(overwrite=True) to replace them, or choose another output folder"
                )
            _clear(folder)
    elif folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder} holds other files; choose an empty or new folder, or pass --overwrite")
        _clear(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for staging in sorted(folder.glob(".staging-*")):
        _promote(staging, folder)
    write_json(manifest_path, {"settings": settings, "complete": False})


def _clear(folder: Path) -> None:
    """Removes what an earlier output wrote (manifest, parts, staging folders) and nothing else."""
    for path in [*folder.glob("part-*.parquet"), folder / MANIFEST]:
        path.unlink(missing_ok=True)
    for staging in folder.glob(".staging-*"):
        shutil.rmtree(staging)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} holds files this package did not write; choose an empty or new folder")


def _promote(staging: Path, folder: Path) -> int:
    """Moves the complete Parquet files of ``staging`` into ``folder`` (renames), deletes the rest; returns the rows
    moved."""
    import pyarrow.parquet as pq

    rows = 0
    for path in sorted(staging.glob("*.parquet")) if staging.is_dir() else []:
        try:
            count = pq.ParquetFile(path).metadata.num_rows  # the footer, written last: a cut file has none
        except Exception as error:  # pyarrow raises ArrowInvalid / OSError for a truncated file
            logger.warning("%s is incomplete (%s): its rows are encoded again", path, error)
            path.unlink()
            continue
        os.replace(path, folder / path.name)
        rows += count
    if staging.is_dir():
        shutil.rmtree(staging)
    return rows


def written_ids(folder: str | os.PathLike, id_column: str) -> pa.Array:
    """The ids in the complete Parquet files of ``folder`` (empty if none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(folder).glob("part-*.parquet"))
    if not parts:
        return pa.array([])
    return pa.concat_arrays([c for p in parts for c in pq.read_table(p, columns=[id_column])[id_column].chunks])


def load_parquet_embeddings(folder: str | os.PathLike, id_column: str | None = None) -> tuple[list, np.ndarray]:
    """All ids and vectors of a Ray-encoded folder, sorted by id (Ray writes in no fixed order).

    Returns:
        ``(ids, vectors)``: the ids and a (rows, D) float32 array.

    Raises:
        ValueError: If an id occurs twice, or the run that wrote the folder did not complete.
        FileNotFoundError: If the folder has no manifest.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{folder} has no {MANIFEST}: not the output of encode --engine ray")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not manifest.get("complete"):
        raise ValueError(f"{folder}: the run that writes it has not completed; rerun the same command to finish it")
    id_column = id_column or manifest["settings"]["id_column"]
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return [], np.zeros((0, 0), dtype=np.float32)
    table = pa.concat_tables([pq.read_table(p, columns=[id_column, EMBEDDING_COLUMN]) for p in parts])
    ids = table.column(id_column).to_pylist()
    if len(set(ids)) != len(ids):
        raise ValueError(f"{folder} holds {len(ids) - len(set(ids))} duplicate id(s): the output is damaged")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    column = table.column(EMBEDDING_COLUMN).combine_chunks()  # fixed-size lists: one flat float32 buffer
    vectors = column.flatten().to_numpy().reshape(len(ids), column.type.list_size)  # (rows, D)
    return [ids[i] for i in order], vectors[order]
