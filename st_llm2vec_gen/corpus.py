"""Encoding corpora at scale: streamed input, vectors in chunk files with their ids, resumable, split across
machines (``shard``) and processes (sentence-transformers' multi-process pool).

The rows of the input are cut into chunks of ``chunk_size`` consecutive rows; chunk ``k`` holds rows
``[k * chunk_size, (k + 1) * chunk_size)`` and belongs to shard ``k % n`` of ``n``. An output directory holds::

    manifest.json                 (manifest.<i>-of-<n>.json for shard i of n > 1)
    chunk-000000.npy              float32 (rows, D), row order
    chunk-000000.ids.json         the rows' ids: the id column's values, or the 0-based row numbers

Each chunk file is written to a temporary name and renamed into place, and the manifest lists a chunk only once both
of its files are in place: a killed run leaves complete chunks and a manifest that names exactly those, and a rerun
with the same settings encodes the remaining chunks only (the same chunks, in the same batches, so the files come
out byte for byte as in an uninterrupted run). :func:`load_embeddings` reads one or several such directories (the
shards of several machines) and checks that every row is there exactly once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import TEXT_COLUMNS, read_records
from .models.saved_format import atomic_write, write_json

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

FORMAT = "llm2vec-gen-embeddings"
VERSION = 1
STREAMED_SUFFIXES = (".jsonl", ".txt", ".csv", ".parquet")
"""Input formats read row by row; anything else goes through :func:`st_llm2vec_gen.data.read_records` in memory."""


# --------------------------------------------------------------------------------------------------------------------
# Input
@dataclass(frozen=True)
class CorpusInput:
    """A corpus to encode: a file read row by row, or texts in memory.

    Attributes:
        path: A ``.jsonl``, ``.csv`` or ``.parquet`` file of records, a ``.txt`` file (one text per non-blank line),
            or anything :func:`~st_llm2vec_gen.data.read_records` reads (``.json``, `datasets`; read in memory).
        texts: Texts in memory, instead of ``path``.
        text_column: The text column of records; by default the first of ``data.TEXT_COLUMNS`` the first row has.
        id_column: The column of the rows' ids (strings or integers); by default ids are 0-based row numbers.
    """

    path: str | None = None
    texts: Sequence[str] | None = None
    text_column: str | None = None
    id_column: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.texts is None):
            raise ValueError("Give either an input file or texts, not both and not neither.")
        if self.path is not None and self.path.endswith(STREAMED_SUFFIXES) and not os.path.isfile(self.path):
            raise FileNotFoundError(f"Input file not found: {self.path}")
        if self.id_column and (self.texts is not None or str(self.path).endswith(".txt")):
            raise ValueError("An id column needs records (.jsonl, .csv, .parquet, ...), not plain texts.")

    @property
    def name(self) -> str:
        """The input as named in messages."""
        return self.path if self.path is not None else "<texts>"

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ``(where, record)`` for every row, ``where`` naming the file and line (or row) for messages."""
        if self.texts is not None:
            return ((f"text {i}", {"text": t}) for i, t in enumerate(self.texts))
        if self.path.endswith(".jsonl"):
            return _jsonl_records(self.path)
        if self.path.endswith(".txt"):
            return _txt_records(self.path)
        if self.path.endswith(".csv"):
            return _csv_records(self.path)
        if self.path.endswith(".parquet"):
            return _parquet_records(self.path)
        return ((f"{self.path} row {i}", r) for i, r in enumerate(read_records(self.path)))

    def rows(self) -> Iterator[tuple[str | int, str]]:
        """Yields ``(id, text)`` per row, in input order, checking each row.

        Raises:
            ValueError: For a row without a non-empty text, or without a string or integer id, naming the row.
        """
        records = self.records()
        first = next(records, None)
        if first is None:
            raise ValueError(f"{self.name} holds no rows")
        column = self._text_column(first[1])
        for number, (where, record) in enumerate(itertools.chain([first], records)):
            yield self._row_id(where, record, number), _text(where, record, column)

    def _text_column(self, first: dict[str, Any]) -> str:
        if self.texts is not None or str(self.path).endswith(".txt"):
            return "text"
        column = self.text_column or next((c for c in TEXT_COLUMNS if c in first), None)
        if column is None:
            raise ValueError(f"{self.name} has none of the text columns {TEXT_COLUMNS}; found {sorted(first)}")
        return column

    def _row_id(self, where: str, record: dict[str, Any], number: int) -> str | int:
        if not self.id_column:
            return number
        value = record.get(self.id_column)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise ValueError(f"{where}: missing, empty or non-scalar id column {self.id_column!r} ({value!r})")
        return value

    def count(self) -> int:
        """Reads and checks every row, before any model is loaded; returns the number of rows.

        Raises:
            ValueError: For a malformed file or row, naming the line or row.
        """
        return sum(1 for _ in self.rows())

    def describe(self, rows: int) -> dict[str, Any]:
        """What identifies the input in a manifest (a resumed or merged run must see the same): rows, size in bytes
        (a file) or SHA-256 (texts), and the columns read."""
        first = next(self.records(), None)
        identity: dict[str, Any] = {"rows": rows, "text_column": self._text_column(first[1]) if first else None,
                                    "id_column": self.id_column}  # fmt: skip
        if self.texts is not None:
            digest = hashlib.sha256("\0".join(self.texts).encode("utf-8")).hexdigest()
            return {**identity, "sha256": digest}
        return {**identity, "bytes": os.path.getsize(self.path) if os.path.isfile(self.path) else None}


def _text(where: str, record: dict[str, Any], column: str) -> str:
    value = record.get(column)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: missing or empty {column!r} field")
    return value


def _jsonl_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number} is a JSON {type(record).__name__}, not an object")
            yield f"{path}:{number}", record


def _txt_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield f"{path}:{number}", {"text": line.rstrip("\n")}


def _csv_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for record in reader:
            yield f"{path}:{reader.line_num}", record


def _parquet_records(path: str, batch_rows: int = 4096) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"Reading {path} needs pyarrow: pip install pyarrow") from None
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            yield f"{path} row {number}", record
            number += 1


# --------------------------------------------------------------------------------------------------------------------
# Output layout
def manifest_name(shard: tuple[int, int]) -> str:
    """``manifest.json`` for a whole corpus, ``manifest.<i>-of-<n>.json`` for shard i of n."""
    index, count = shard
    return "manifest.json" if count == 1 else f"manifest.{index}-of-{count}.json"


def chunk_files(chunk: int) -> tuple[str, str]:
    """The vectors' and ids' file names of a chunk."""
    return f"chunk-{chunk:06d}.npy", f"chunk-{chunk:06d}.ids.json"


def shard_chunks(rows: int, chunk_size: int, shard: tuple[int, int]) -> list[int]:
    """The chunks shard ``i`` of ``n`` encodes: chunk k (rows ``[k * chunk_size, (k + 1) * chunk_size)``) if
    ``k % n == i``. The shards of one ``n`` are disjoint and together cover every chunk."""
    index, count = shard
    return [k for k in range(math.ceil(rows / chunk_size)) if k % count == index]


def _chunk_rows(chunk: int, rows: int, chunk_size: int) -> int:
    return min(chunk_size, rows - chunk * chunk_size)


def _own_entry(name: str) -> bool:
    """Whether a directory entry is one this module writes (manifests, chunk files, their temporary names)."""
    return name.lstrip(".").startswith(("manifest.", "chunk-"))


@dataclass
class EncodeSummary:
    """What :func:`encode_corpus` did.

    Attributes:
        output: The output directory.
        manifest: Its manifest file for this shard.
        rows: Rows of the input.
        chunks: Chunks of this shard.
        encoded: Chunks encoded by this call (the others were complete already).
    """

    output: Path
    manifest: Path
    rows: int
    chunks: list[int] = field(default_factory=list)
    encoded: list[int] = field(default_factory=list)


def _fresh_manifest(settings: dict[str, Any], shard: tuple[int, int], info: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "settings": settings, "shard": list(shard), "info": info,
            "done": [], "complete": False}  # fmt: skip


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a valid manifest ({error}): remove it or pass --overwrite") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not an llm2vec-gen embeddings manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path} has manifest version {manifest.get('version')}; this package reads {VERSION}")
    return manifest


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Dotted names of the settings that differ."""
    names = []
    for key in sorted(set(a) | set(b)):
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            names += [f"{key}.{sub}" for sub in _differences(a[key], b[key])]
        elif a.get(key) != b.get(key):
            names.append(key)
    return names


def _plan_output(
    folder: Path, settings: dict[str, Any], shard: tuple[int, int], info: dict[str, Any], overwrite: bool
) -> tuple[dict[str, Any], bool]:
    """The manifest to continue from: the existing one when the settings match (a resume), else a fresh one; and
    whether this shard's earlier chunk files are to be removed (``overwrite``). Reads only, writes nothing.

    Raises:
        FileExistsError: If the output is a file, holds an output of other settings (without ``overwrite``), other
            shards' output of other settings, or foreign files (without ``overwrite``).
    """
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file; the output is a directory (or a .npy file name for one array)")
    if not folder.exists():
        return _fresh_manifest(settings, shard, info), False
    mine = folder / manifest_name(shard)
    for other in sorted(folder.glob("manifest*.json")):
        if other != mine and (diff := _differences(_read_manifest(other)["settings"], settings)):
            raise FileExistsError(
                f"{folder} holds {other.name}, another run's output (settings differ: {', '.join(diff)}): remove it "
                "or choose another output directory"
            )
    if mine.exists():
        previous = _read_manifest(mine)
        diff = _differences(previous["settings"], settings)
        if not diff and not overwrite:
            return _resumed(folder, previous), False
        if not overwrite:
            raise FileExistsError(
                f"{folder} holds an output written with other settings ({', '.join(diff)}): pass --overwrite "
                "(overwrite=True) to replace it, or choose another output directory"
            )
    elif not overwrite and (foreign := sorted(n for n in os.listdir(folder) if not _own_entry(n))):
        raise FileExistsError(
            f"{folder} is not empty and holds no embeddings output ({foreign[:3]}): pass --overwrite "
            "(overwrite=True) to write into it anyway, or choose another output directory"
        )
    return _fresh_manifest(settings, shard, info), overwrite


def _resumed(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with only the chunks whose two files are present (a deleted file gets encoded again)."""
    present = [k for k in manifest["done"] if all((folder / name).is_file() for name in chunk_files(k))]
    if missing := sorted(set(manifest["done"]) - set(present)):
        logger.warning("%s: chunk files of %s are missing; encoding them again", folder, missing)
    manifest["done"] = present
    logger.info("Resuming %s: %d chunk(s) already complete", folder, len(present))
    return manifest


def _remove_chunks(folder: Path, shard: tuple[int, int]) -> None:
    """Removes the chunk files of a shard's earlier run (listed in its manifest or not), never other shards'."""
    index, count = shard
    for path in folder.glob("chunk-*"):
        number = path.name.removeprefix("chunk-").split(".")[0]
        if number.isdigit() and int(number) % count == index:
            path.unlink()


def _remove_stale_temporaries(folder: Path, chunks: Iterable[int], shard: tuple[int, int]) -> None:
    """Temporary files a killed run of this shard left behind (only this shard's names: others may be running)."""
    prefixes = tuple(f".{name}." for k in chunks for name in chunk_files(k)) + (f".{manifest_name(shard)}.",)
    for path in folder.iterdir():
        if path.name.startswith(prefixes) and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _write_chunk(folder: Path, chunk: int, ids: list[str | int], vectors: np.ndarray) -> None:
    """Writes a chunk's vectors and ids, each to a temporary name renamed into place."""
    vectors_name, ids_name = chunk_files(chunk)
    save_npy(folder / vectors_name, vectors)
    write_json(folder / ids_name, ids)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` to exactly ``path`` (never ``path + ".npy"``) through a temporary file renamed into place."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a path without it
            np.save(f, array)

    atomic_write(path, save)


# --------------------------------------------------------------------------------------------------------------------
# Encoding
def encode_corpus(
    model: SentenceTransformer | str,
    corpus: CorpusInput,
    output: str | os.PathLike,
    prompt_name: str | None = None,
    batch_size: int = 32,
    chunk_size: int = 10_000,
    shard: tuple[int, int] = (0, 1),
    devices: Sequence[str] | None = None,
    normalize: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> EncodeSummary:
    """Encodes a corpus into an output directory of chunk files, resuming what an earlier run left.

    The input is read and checked once before anything else (so a bad row fails in seconds), then streamed: only
    one chunk's texts and vectors are in memory at a time.

    Args:
        model: A loaded SentenceTransformer, or its path or hub id (loaded with ``trust_remote_code=True`` only if
            there is something left to encode).
        corpus: The input.
        output: The output directory (created if absent).
        prompt_name: The model's prompt to use (e.g. ``"query"``, ``"document"``); None: no prompt.
        batch_size: Texts per forward pass.
        chunk_size: Rows per chunk file; a resumed run must use the same.
        shard: ``(i, n)``: encode only the chunks ``k`` with ``k % n == i`` (one of n machines).
        devices: Devices to encode on; several (``["cuda:0", "cuda:1"]``, ``["cpu", "cpu"]``) start
            sentence-transformers' multi-process pool, one process each. None: the model's device.
        normalize: Scale the vectors to unit length.
        overwrite: Replace an output of other settings, or write into a directory that holds other files.
        show_progress: Show progress bars.

    Returns:
        An :class:`EncodeSummary`.

    Raises:
        ValueError: For bad arguments or a bad input row.
        FileExistsError: If ``output`` holds something else and ``overwrite`` is not set (see above).
    """
    _check_arguments(batch_size, chunk_size, shard, devices)
    rows = corpus.count()
    settings = {"input": corpus.describe(rows), "prompt_name": prompt_name, "normalize": bool(normalize),
                "chunk_size": chunk_size, "shards": shard[1]}  # fmt: skip
    info = {"input": os.path.abspath(corpus.path) if corpus.path else corpus.name,
            "model": model if isinstance(model, str) else None}  # fmt: skip
    folder = Path(output)
    manifest, replace = _plan_output(folder, settings, shard, info, overwrite)
    mine = folder / manifest_name(shard)
    chunks = shard_chunks(rows, chunk_size, shard)
    todo = [k for k in chunks if k not in set(manifest["done"])]
    summary = EncodeSummary(output=folder, manifest=mine, rows=rows, chunks=chunks)
    if todo:  # loaded and checked before anything is written or removed
        model = _loaded(model, devices)
        _check_model(model, manifest, prompt_name, mine)
    folder.mkdir(parents=True, exist_ok=True)
    if replace:
        _remove_chunks(folder, shard)
    _remove_stale_temporaries(folder, todo, shard)
    manifest["complete"] = not todo
    write_json(mine, manifest)
    if not todo:
        logger.info("%s: all %d chunk(s) of shard %d/%d are complete", folder, len(chunks), *shard)
        return summary
    with _Encoder(model, devices, prompt_name, batch_size, normalize, show_progress) as encoder:
        summary.encoded = _encode_chunks(encoder, corpus, folder, manifest, todo, show_progress)
    return summary


def _check_arguments(batch_size: int, chunk_size: int, shard: tuple[int, int], devices: Sequence[str] | None) -> None:
    for name, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise ValueError(f"shard must be (i, n) with integers 0 <= i < n, got {shard!r}")
    if devices is not None and (not devices or not all(isinstance(d, str) and d.strip() for d in devices)):
        raise ValueError(f"devices must be a non-empty list of device names such as 'cpu' or 'cuda:0', got {devices!r}")


def _loaded(model: SentenceTransformer | str, devices: Sequence[str] | None) -> SentenceTransformer:
    """The model, loaded if given by name: on the CPU for a pool (its workers place their own copies), else on the
    one device given."""
    if not isinstance(model, str):
        if devices is not None and len(devices) == 1:
            model.to(devices[0])
        return model
    from sentence_transformers import SentenceTransformer

    device = "cpu" if devices is not None and len(devices) > 1 else (devices[0] if devices else None)
    return SentenceTransformer(model, trust_remote_code=True, device=device)


def _check_model(model: SentenceTransformer, manifest: dict[str, Any], prompt_name: str | None, path: Path) -> None:
    """Records the embedding size and prompt text, or checks them against those an earlier run recorded."""
    _check_prompt(model, prompt_name)
    found = {"dim": model.get_embedding_dimension(), "prompt": model.prompts.get(prompt_name) if prompt_name else None}
    recorded = {key: manifest[key] for key in found if key in manifest}
    if recorded and recorded != found:
        raise ValueError(
            f"{path} was written by a model with {recorded}, this one has {found}: pass --overwrite (overwrite=True) "
            "to replace the output, or choose another output directory"
        )
    manifest.update(found)


def _check_prompt(model: SentenceTransformer, prompt_name: str | None) -> None:
    if prompt_name is not None and prompt_name not in model.prompts:
        raise ValueError(f"Unknown prompt name {prompt_name!r}; the model has {sorted(model.prompts)}")


class _Encoder:
    """``model.encode`` with fixed settings, in one process or a multi-process pool started and stopped with it."""

    def __init__(
        self,
        model: SentenceTransformer,
        devices: Sequence[str] | None,
        prompt_name: str | None,
        batch_size: int,
        normalize: bool,
        show_progress: bool,
    ) -> None:
        self.model, self.devices = model, list(devices or [])
        self.kwargs = {"prompt_name": prompt_name, "batch_size": batch_size, "normalize_embeddings": normalize,
                       "show_progress_bar": show_progress, "convert_to_numpy": True}  # fmt: skip
        self.pool: dict[str, Any] | None = None

    def __enter__(self) -> _Encoder:
        if len(self.devices) > 1:
            logger.info("Starting a multi-process pool on %s", ", ".join(self.devices))
            self.pool = self.model.start_multi_process_pool(self.devices)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.pool is not None:
            self.model.stop_multi_process_pool(self.pool)
            self.pool = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(len(texts), D) float32."""
        vectors = self.model.encode(texts, pool=self.pool, **self.kwargs)
        return np.asarray(vectors, dtype=np.float32)


def _encode_chunks(
    encoder: _Encoder,
    corpus: CorpusInput,
    folder: Path,
    manifest: dict[str, Any],
    todo: list[int],
    show_progress: bool,
) -> list[int]:
    """Streams the input and encodes the chunks in ``todo``, recording each in the manifest once it is written."""
    from tqdm.auto import tqdm

    settings = manifest["settings"]
    rows, chunk_size = settings["input"]["rows"], settings["chunk_size"]
    path = folder / manifest_name(tuple(manifest["shard"]))
    total = sum(_chunk_rows(k, rows, chunk_size) for k in todo)
    wanted, last, encoded = set(todo), max(todo), []
    stream = corpus.rows()
    with tqdm(total=total, unit="text", desc=f"Encoding {folder.name}", disable=not show_progress) as progress:
        for chunk in range(last + 1):
            block = list(itertools.islice(stream, chunk_size))
            if chunk not in wanted:
                continue
            ids, texts = [row_id for row_id, _ in block], [text for _, text in block]
            _write_chunk(folder, chunk, ids, encoder(texts))
            encoded.append(chunk)
            manifest["done"] = sorted([*manifest["done"], chunk])
            manifest["complete"] = len(encoded) == len(todo)
            write_json(path, manifest)  # only now is the chunk complete: a rerun skips it
            progress.update(len(block))
            left = len(todo) - len(encoded)
            logger.info("Chunk %d written (%d rows); %d of %d chunk(s) left", chunk, len(block), left, len(todo))
    return encoded


def encode_to_npy(
    model: SentenceTransformer | str,
    corpus: CorpusInput,
    output: str | os.PathLike,
    prompt_name: str | None = None,
    batch_size: int = 32,
    devices: Sequence[str] | None = None,
    normalize: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> np.ndarray:
    """Encodes a small corpus into one ``.npy`` array (rows in input order, no ids), all in memory.

    The file is written to a temporary name and renamed to exactly ``output``, which must end with ``.npy``.

    Raises:
        ValueError: If ``output`` does not end with ``.npy``, or for bad arguments or rows.
        FileExistsError: If ``output`` exists (a directory always; a file unless ``overwrite``).
    """
    path = Path(output)
    if path.suffix != ".npy":
        raise ValueError(f"{output}: a single-array output is a .npy file name; give a directory for chunked output")
    if path.is_dir() or (path.exists() and not overwrite):
        what = "is a directory" if path.is_dir() else "exists; pass --overwrite (overwrite=True) to replace it"
        raise FileExistsError(f"{output} {what}")
    _check_arguments(batch_size, 1, (0, 1), devices)
    texts = [text for _, text in corpus.rows()]
    model = _loaded(model, devices)
    _check_prompt(model, prompt_name)
    with _Encoder(model, devices, prompt_name, batch_size, normalize, show_progress) as encoder:
        vectors = encoder(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy(path, vectors)
    logger.info("Saved %s embeddings to %s", vectors.shape, path)
    return vectors


# --------------------------------------------------------------------------------------------------------------------
# Reading
def iter_embeddings(*outputs: str | os.PathLike) -> Iterator[tuple[list[str | int], np.ndarray]]:
    """Yields ``(ids, vectors)`` chunk by chunk in row order, from one output directory or the directories of
    several shards.

    Raises:
        ValueError: If the manifests disagree, a chunk is missing (a shard not finished or not given) or present
            twice, or a chunk file does not match its manifest.
    """
    located = _locate_chunks(outputs)
    for chunk in sorted(located):
        folder, rows = located[chunk]
        vectors_name, ids_name = chunk_files(chunk)
        vectors = np.load(folder / vectors_name)
        ids = json.loads((folder / ids_name).read_text(encoding="utf-8"))
        if vectors.shape[0] != rows or len(ids) != rows:
            raise ValueError(f"{folder}/{vectors_name}: {vectors.shape[0]} vectors and {len(ids)} ids, expected {rows}")
        yield ids, vectors


def load_embeddings(*outputs: str | os.PathLike) -> tuple[list[str | int], np.ndarray]:
    """All ids and vectors, (rows, D), of one output directory or of several shards' directories, in row order."""
    ids: list[str | int] = []
    parts = []
    for chunk_ids, vectors in iter_embeddings(*outputs):
        ids += chunk_ids
        parts.append(vectors)
    return ids, np.concatenate(parts)


def _locate_chunks(outputs: Sequence[str | os.PathLike]) -> dict[int, tuple[Path, int]]:
    """``{chunk: (folder, rows)}`` over the manifests of ``outputs``, checked complete and without overlaps."""
    manifests = [(Path(o), _read_manifest(m)) for o in outputs for m in sorted(Path(o).glob("manifest*.json"))]
    if not manifests:
        raise ValueError(f"No embeddings manifest in {[str(o) for o in outputs]}")
    settings = manifests[0][1]["settings"]
    located: dict[int, tuple[Path, int]] = {}
    for folder, manifest in manifests:
        if diff := _differences(manifest["settings"], settings):
            raise ValueError(f"{folder}: the shards were written with different settings ({', '.join(diff)})")
        for chunk in manifest["done"]:
            if chunk in located and located[chunk][0].resolve() != folder.resolve():
                raise ValueError(f"Chunk {chunk} is in both {located[chunk][0]} and {folder}")
            located[chunk] = (folder, _chunk_rows(chunk, settings["input"]["rows"], settings["chunk_size"]))
    expected = math.ceil(settings["input"]["rows"] / settings["chunk_size"])
    if missing := sorted(set(range(expected)) - set(located)):
        count = settings["shards"]
        shards = sorted({k % count for k in missing})
        raise ValueError(
            f"Incomplete embeddings: {len(missing)} of {expected} chunk(s) missing (e.g. {missing[:5]}), from "
            f"shard(s) {shards} of {count}: finish them (rerun the same command) or give their output directories"
        )
    return located
