"""Reading the project's inputs: records, queries, query/response pairs and texts, for every command.

Every reader takes a ``.jsonl`` (or ``.jsonl.gz``), ``.json`` (a list of objects), ``.csv`` or ``.parquet`` file, or
a `datasets` name or path (``.txt`` files, one text per line, for texts), and checks every row before any long work
starts, so a bad file fails in a second with the file, line or row to fix: an invalid JSON line, a byte that is not
UTF-8, a missing column. :func:`iter_records` streams the line- and row-based formats; the rest is read in memory.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

QUERY_COLUMNS = ("query", "prompt", "instruction", "question", "text")
"""Columns tried, in order, for the query text."""
TEXT_COLUMNS = ("text", "sentence", "query", "prompt", "instruction", "question", "document", "passage")
"""Columns tried, in order, for texts to encode or decode."""
_FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".txt", ".parquet")
STREAMED_SUFFIXES = (".jsonl", ".jsonl.gz", ".txt", ".csv", ".parquet")
"""The formats :func:`iter_records` reads row by row."""


def read_records(source: str, split: str = "train") -> list[dict[str, Any]]:
    """Reads the rows of a ``.jsonl`` (or gzipped ``.jsonl.gz``), ``.json`` or ``.csv`` file, or of a `datasets` name
    or path.

    Args:
        source: The file, a `datasets` directory saved with ``save_to_disk``, or a `datasets` hub name.
        split: The split for `datasets` sources.

    Raises:
        FileNotFoundError: For a file path that does not exist.
        ValueError: For a malformed file (naming the line or item), a row that is not an object, or no rows at all.
    """
    if source.endswith(_FILE_SUFFIXES) and not os.path.isfile(source):
        raise FileNotFoundError(f"File not found: {source}")
    if source.endswith(".txt"):
        raise ValueError(f"{source}: a .txt file holds texts, not records")
    if source.endswith(STREAMED_SUFFIXES):
        rows = [row for _, row in iter_records(source)]
    elif source.endswith(".json"):
        rows = _read_json(source)
    else:
        rows = _read_dataset(source, split)
    if not rows:
        raise ValueError(f"{source} holds no rows")
    return rows


def iter_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields ``(where, record)`` per row of a :data:`STREAMED_SUFFIXES` file, ``where`` naming the file and line (or
    Parquet row) for messages; a ``.txt`` line is ``{"text": line}``.

    Raises:
        ValueError: For a line that is not UTF-8, not valid JSON or not a JSON object, naming the file and line.
    """
    if path.endswith((".jsonl", ".jsonl.gz")):
        return ((f"{path}:{number}", row) for number, row in iter_jsonl(path))
    if path.endswith(".txt"):
        return ((f"{path}:{n}", {"text": line.rstrip("\r\n")}) for n, line in _lines(path) if line.strip())
    if path.endswith(".csv"):
        return _csv_records(path)
    if path.endswith(".parquet"):
        return _parquet_records(path)
    raise ValueError(f"{path}: not a streamed format ({', '.join(STREAMED_SUFFIXES)})")


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` per line, each decoded as UTF-8 on its own, so a bad byte is named with its line."""
    opener = gzip.open if path.endswith(".gz") else open
    number = 0
    with opener(path, "rb") as f:
        lines = enumerate(f, start=1)
        while True:
            try:
                number, raw = next(lines)
            except StopIteration:
                return
            except (EOFError, gzip.BadGzipFile, zlib.error) as error:  # a crash while the file was written
                raise ValueError(
                    f"{path}: the compressed file is cut short or damaged after line {number} ({error}); regenerate "
                    "it, or recompress its good lines"
                ) from None
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start : error.start + 1].hex()
                message = f"{path}:{number}: byte 0x{byte} at column {error.start + 1} is not UTF-8 text"
                raise ValueError(f"{message}; save the file as UTF-8") from None


def _csv_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, record)`` per row of a CSV file with a header row."""
    reader = csv.DictReader(line for _, line in _lines(path))
    for record in reader:
        yield f"{path}:{reader.line_num}", record


def _parquet_records(path: str, batch_rows: int = 4096) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file row n, record)`` per row of a Parquet file, read ``batch_rows`` at a time."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"Reading {path} needs pyarrow: pip install pyarrow") from None
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            yield f"{path} row {number}", record
            number += 1


def iter_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields ``(line number, object)`` for each non-blank line of a ``.jsonl`` (or gzipped ``.jsonl.gz``) file.

    Raises:
        ValueError: For a line that is not valid JSON or not a JSON object, naming the file and line.
    """
    for number, line in _lines(path):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number} is a JSON {type(row).__name__}, not an object")
            yield number, row


def _read_json(path: str) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        try:
            rows = json.loads(f.read().decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: byte {error.start} is not UTF-8 text; save the file as UTF-8") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path} must hold a JSON list of objects, found {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: item {index} (0-based) is a JSON {type(row).__name__}, not an object")
    return rows


def _read_dataset(source: str, split: str) -> list[dict[str, Any]]:
    from datasets import load_dataset, load_from_disk

    dataset = load_from_disk(source) if os.path.isdir(source) else load_dataset(source, split=split)
    if hasattr(dataset, "keys") and split in dataset:  # a DatasetDict saved to disk
        dataset = dataset[split]
    return list(dataset)


def pick_text_column(
    names: Collection[str],
    column: str | None = None,
    source: str = "The input",
    candidates: Sequence[str] = TEXT_COLUMNS,
) -> str:
    """The column that holds the texts, the one rule of every reader: ``column`` when given (it must be one of
    ``names``), else the first of ``candidates`` that ``names`` has.

    Args:
        names: The columns there are (a file's first row, a table's schema).
        column: The column the user named, or None to pick one.
        source: The input as named in messages.
        candidates: The columns tried, in order (:data:`TEXT_COLUMNS`, or :data:`QUERY_COLUMNS` for queries).

    Raises:
        ValueError: If the named column is missing, or none of ``candidates`` is there, naming the columns found.
    """
    if column is not None:
        if column not in names:
            raise ValueError(f"{source} has no column {column!r}; it has {sorted(names)}: name one of them")
        return column
    found = next((c for c in candidates if c in names), None)
    if found is None:
        raise ValueError(f"{source} has none of the columns {tuple(candidates)}; found {sorted(names)}: name the "
                         "column to read")  # fmt: skip
    return found


def _texts_of(rows: list[dict[str, Any]], source: str, column: str | None, candidates: tuple[str, ...]) -> list[str]:
    """The non-empty strings of ``column`` (or the first candidate column the first row has) in every row."""
    column = pick_text_column(rows[0], column, source, candidates)
    bad = [i for i, row in enumerate(rows) if not isinstance(row.get(column), str) or not row[column].strip()]
    if bad:
        raise ValueError(
            f"{source}: {len(bad)} row(s) have a missing or empty {column!r} field, e.g. rows {bad[:5]} (0-based)"
        )
    return [row[column] for row in rows]


def read_queries(source: str, column: str | None = None, split: str = "train") -> list[str]:
    """Reads the query texts of a source.

    Args:
        source: See :func:`read_records`.
        column: The query column; by default the first of :data:`QUERY_COLUMNS` that the first row has.
        split: The split for `datasets` sources.

    Raises:
        ValueError: If the source is empty, the column is missing, or rows have missing, empty or non-string
            queries (the first few offending row numbers are named).
    """
    return _texts_of(read_records(source, split), source, column, QUERY_COLUMNS)


def read_texts(source: str, column: str | None = None, split: str = "train") -> list[str]:
    """Reads texts to encode or decode: one per non-empty line of a ``.txt`` file, else a column of records.

    Args:
        source: A ``.txt`` file or anything :func:`read_records` reads.
        column: The text column of records; by default the first of :data:`TEXT_COLUMNS` that the first row has.
        split: The split for `datasets` sources.

    Raises:
        FileNotFoundError: For a file path that does not exist.
        ValueError: If the source holds no texts, or rows lack the column.
    """
    if not source.endswith(".txt"):
        return _texts_of(read_records(source, split), source, column, TEXT_COLUMNS)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"File not found: {source}")
    texts = [record["text"] for _, record in iter_records(source)]
    if not texts:
        raise ValueError(f"{source} holds no texts")
    return texts


@dataclass(frozen=True)
class Pairs:
    """Query/response pairs to train on, in file order (:func:`load_pairs`).

    Attributes:
        queries: The query of each pair.
        responses: The response of each pair, never empty.
        truncated: Whether each response was cut at the generation limit (``False`` where the file has no flag).
    """

    queries: list[str]
    responses: list[str]
    truncated: list[bool]

    def __post_init__(self) -> None:
        if not len(self.queries) == len(self.responses) == len(self.truncated):
            raise ValueError(f"Pairs need as many responses and flags as queries, got {len(self.queries)}, "
                             f"{len(self.responses)} and {len(self.truncated)}")  # fmt: skip

    def __len__(self) -> int:
        return len(self.queries)


def load_pairs(
    path: str | list[str], limit: int | None = None, file_limits: list[int | None] | None = None
) -> Pairs:
    """Reads query/response pairs from one file or several, refusing missing or empty fields before any model loads.

    Pairs whose response is empty (the LLM answered with nothing) are skipped with a warning: there is no target to
    reconstruct or align with. With several files, a query already read from an earlier file is skipped.

    Args:
        path: A source :func:`read_records` reads, with ``query`` and ``response`` columns, or a list of them.
        limit: Use only the first ``limit`` pairs.
        file_limits: One per path: read only the first N rows of that file (``None``: all of them), so a file that
            grows (a response snapshot) does not shift which rows of the later files are read.

    Returns:
        The pairs, with each row's flag of a response cut at the generation limit (``truncated``).

    Raises:
        ValueError: If the ``query`` or ``response`` column is missing, any row has an empty query, or every
            response is empty.
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        raise ValueError("No training data given: name at least one file of query/response pairs.")
    file_limits = check_file_limits(paths, file_limits)
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source, file_limit in zip(paths, file_limits):
        rows = [row for row in _pairs_of(source, file_limit) if row["query"] not in seen]
        seen.update(row["query"] for row in rows)
        kept += rows
    kept = kept[:limit]
    return Pairs(
        queries=[r["query"] for r in kept],
        responses=[r["response"] for r in kept],
        truncated=[bool(r.get("truncated", False)) for r in kept],
    )


def check_file_limits(paths: list[str], file_limits: list[int | None] | None) -> list[int | None]:
    """The per-file row limits, one per path (all ``None`` when not given); refuses a wrong count or a limit < 1."""
    if file_limits is None:
        return [None] * len(paths)
    if len(file_limits) != len(paths):
        raise ValueError(f"file_limits has {len(file_limits)} entries for {len(paths)} paths: give one per path "
                         "(null reads the whole file)")
    if any(limit is not None and limit < 1 for limit in file_limits):
        raise ValueError(f"each of file_limits must be >= 1 or null (the whole file), got {file_limits}")
    return list(file_limits)


def _pairs_of(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The checked rows of one pair file (its first ``limit`` rows), without those whose response is empty."""
    rows = read_records(path)[:limit]
    for column in ("query", "response"):
        bad = [i for i, row in enumerate(rows) if not isinstance(row.get(column), str)]
        if column == "query":
            bad += [i for i, row in enumerate(rows) if isinstance(row.get(column), str) and not row[column].strip()]
        if bad:
            raise ValueError(
                f"{path}: {len(bad)} row(s) lack a non-empty {column!r} field (e.g. rows {sorted(bad)[:5]}); "
                "training needs 'query' and 'response' columns."
            )
    kept = [row for row in rows if row["response"].strip()]
    if len(kept) < len(rows):
        logger.warning("Skipping %d pair(s) of %s with an empty response", len(rows) - len(kept), path)
    if not kept:
        raise ValueError(f"{path}: every response is empty")
    return kept
