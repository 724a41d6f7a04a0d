"""The input of a corpus encoding: a file read row by row (JSONL, CSV, Parquet, plain text) by
:func:`~st_llm2vec_gen.io.records.iter_records`, the reader every command uses, or texts in memory; each row checked
and named in messages by its file and line (or row)."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..io.records import STREAMED_SUFFIXES, iter_records, pick_text_column, read_records


@dataclass(frozen=True)
class CorpusInput:
    """A corpus to encode: a file read row by row, or texts in memory.

    Attributes:
        path: A ``.jsonl``, ``.csv`` or ``.parquet`` file of records, a ``.txt`` file (one text per non-blank line),
            or anything :func:`~st_llm2vec_gen.io.records.read_records` reads (``.json``, `datasets`; read in memory).
        texts: Texts in memory, instead of ``path``.
        text_column: The text column of records; by default the first of ``io.records.TEXT_COLUMNS`` the first row has.
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
        if self.path.endswith(STREAMED_SUFFIXES):
            return iter_records(self.path)
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
        return pick_text_column(first, self.text_column or None, self.name)

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
    """The non-blank text of ``column``; ValueError naming ``where`` otherwise."""
    value = record.get(column)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: missing or empty {column!r} field")
    return value
