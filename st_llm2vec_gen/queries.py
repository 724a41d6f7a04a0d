"""Reading unlabeled queries (and query/response pairs) from JSONL, JSON, CSV or a `datasets` dataset."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

QUERY_COLUMNS = ("query", "prompt", "instruction", "question", "text")


def read_records(source: str, split: str = "train") -> list[dict[str, Any]]:
    """Reads rows from a ``.jsonl``, ``.json`` (list of objects) or ``.csv`` file, or a `datasets` name or path.

    Raises:
        FileNotFoundError: For a file path that does not exist.
        ValueError: For a malformed file, naming the line.
    """
    if source.endswith((".jsonl", ".json", ".csv")) and not os.path.isfile(source):
        raise FileNotFoundError(f"Query file not found: {source}")
    if source.endswith(".jsonl"):
        rows = []
        with open(source, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{source}:{number} is not valid JSON: {error}") from None
        return rows
    if source.endswith(".json"):
        with open(source, encoding="utf-8") as f:
            rows = json.load(f)
        if not isinstance(rows, list):
            raise ValueError(f"{source} must hold a JSON list of objects, found {type(rows).__name__}")
        return rows
    if source.endswith(".csv"):
        with open(source, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    from datasets import load_dataset, load_from_disk

    dataset = load_from_disk(source) if os.path.isdir(source) else load_dataset(source, split=split)
    if hasattr(dataset, "keys") and split in dataset:  # a DatasetDict saved to disk
        dataset = dataset[split]
    return list(dataset)


def read_queries(source: str, column: str | None = None, split: str = "train") -> list[str]:
    """Reads the query texts of a source, checking every row before any long work starts.

    Args:
        source: See :func:`read_records`.
        column: The query column; by default the first of ``query``, ``prompt``, ``instruction``, ``question``,
            ``text`` that the first row has.
        split: The split for `datasets` sources.

    Raises:
        ValueError: If the source is empty, the column is missing, or rows have missing, empty or non-string
            queries (the first few offending row numbers are named).
    """
    rows = read_records(source, split)
    if not rows:
        raise ValueError(f"{source} holds no rows")
    if column is None:
        column = next((c for c in QUERY_COLUMNS if c in rows[0]), None)
        if column is None:
            raise ValueError(f"{source} has none of the query columns {QUERY_COLUMNS}; found {sorted(rows[0])}")
    bad = [i for i, row in enumerate(rows) if not isinstance(row.get(column), str) or not row[column].strip()]
    if bad:
        raise ValueError(
            f"{source}: {len(bad)} row(s) have a missing or empty {column!r} field, e.g. rows {bad[:5]} (0-based)"
        )
    return [row[column] for row in rows]
