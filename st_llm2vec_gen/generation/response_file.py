"""The response file: the frozen LLM's answers to queries, one JSONL row each, with the settings they were made with.

Every writer (one process: :func:`~.responses.generate_responses`; Ray: :func:`~.ray.generate_on_ray`) goes through
:class:`ResponseFile`, so the format and its guarantees live here alone:

- a row is ``{"id", "query", "response", "truncated"}``: ``id`` is the query's index in the list of queries, and
  ``truncated`` is true when the response was cut at ``max_new_tokens`` (rows written before it existed lack it);
- rows are only ever appended (synced per batch); a line cut by a kill is removed by truncating the file to the end
  of its last complete line, so the rows already there are never rewritten;
- the settings file ``<output>.settings.json`` is written atomically just before the first rows land, and a settings
  file whose output holds no rows never blocks a corrected re-run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from ..models.atomic_files import write_json
from .engines import Generation, GenerationSettings

logger = logging.getLogger(__name__)

SETTINGS_SUFFIX = ".settings.json"
"""The settings file of a response file is its path with this suffix."""

# Settings added after response files were first written, with the value those files were generated with.
_LEGACY_SETTINGS = {"use_model_generation_config": False}


def response_row(index: int, query: str, generation: Generation) -> dict[str, Any]:
    """The row of the answer ``generation`` to query number ``index``."""
    return {"id": index, "query": query, "response": generation.text, "truncated": generation.truncated}


def settings_record(
    settings: GenerationSettings, generator: str, model_decoding: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """What the settings file records: the decoding settings and the generator's name, plus the model's own decoding
    (``model_decoding()``, asked only then) when ``settings.use_model_generation_config``."""
    record = {**asdict(settings), "generator": generator}
    if settings.use_model_generation_config:
        record["model_generation_config"] = model_decoding()
    return record


def _decoding(record: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what is generated: the generator and decoding (batch size does not)."""
    return {k: v for k, v in {**_LEGACY_SETTINGS, **record}.items() if k != "batch_size"}


class ResponseFile:
    """One response file and its settings file, as one writer sees them (hold ``lock_beside(path)`` meanwhile).

    Use: :meth:`resume` (the rows already there), :meth:`check_settings` (the record of this run against the file's),
    :meth:`append` batch after batch (the settings file is written before the first rows), :meth:`rows_of` at the end.

    Args:
        path: The JSONL file (created by the first :meth:`append`).
        queries: The query texts; a row's ``id`` is its query's index in this list.
    """

    def __init__(self, path: str, queries: list[str]) -> None:
        self.path = path
        self.settings_path = path + SETTINGS_SUFFIX
        self.queries = queries
        self.rows: dict[int, dict[str, Any]] = {}
        """The rows in the file by id, as far as this object has read or written them."""
        self.record: dict[str, Any] | None = None
        self.recorded = False

    def resume(self) -> dict[int, dict[str, Any]]:
        """Reads the rows already in the file (none if it does not exist); a partial last line (a kill mid-write) is
        cut off the file in place, the complete rows' bytes stay where they are.

        Returns:
            The rows by id (also kept in :attr:`rows`).

        Raises:
            ValueError: For a line that is not JSON, or the answer to another query than ``queries`` holds at its id.
        """
        self.rows = {}
        if not os.path.exists(self.path):
            return self.rows
        complete = 0  # bytes up to the end of the last complete line
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    break
                complete += len(line)
                if line.strip():
                    row = self._parse(number, line)
                    self.rows[row["id"]] = row
        size = os.path.getsize(self.path)
        if complete < size:
            logger.warning("%s ends with a partial line (%d bytes): dropping it", self.path, size - complete)
            os.truncate(self.path, complete)  # no rewrite: the complete rows' bytes stay where they are
        return self.rows

    def todo(self, ids: Iterable[int]) -> list[int]:
        """The ids of ``ids`` that have no row yet, in their order."""
        return [i for i in ids if i not in self.rows]

    def check_settings(self, record: dict[str, Any]) -> bool:
        """Compares this run's settings ``record`` (:func:`settings_record`) with the settings file's.

        Returns:
            Whether the settings file records them already; if not, :meth:`append` writes it before the first rows
            (a settings file whose output holds no rows is replaced, with a warning).

        Raises:
            ValueError: If they differ in what changes the answers and the file holds rows made with the old ones.
        """
        self.record, self.recorded = record, False
        if not os.path.exists(self.settings_path):
            return False
        with open(self.settings_path, encoding="utf-8") as f:
            previous = json.load(f)
        if _decoding(previous) == _decoding(record):
            self.recorded = True
            return True
        if self.rows:
            raise ValueError(
                f"{self.path} was generated with other settings ({previous}); use a new output file to change them "
                "(the generator's name carries the backbone dtype when it is not float32: `--dtype` chooses it)."
            )
        logger.warning("%s holds no rows: its settings file %s will be replaced", self.path, self.settings_path)
        return False

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Appends the rows whose ids have none yet and syncs them: a batch is either on disk or answered again after
        an interruption. The settings file is written (atomically) first if it does not record this run's settings.

        Raises:
            RuntimeError: If :meth:`check_settings` was not called first.
        """
        if self.record is None:
            raise RuntimeError("ResponseFile.check_settings must be called before append: rows need their settings")
        new = [row for row in rows if row["id"] not in self.rows]
        if not new:
            return
        if not self.recorded:  # only now: a run that fails before its first answer leaves no settings behind
            write_json(self.settings_path, self.record)
            self.recorded = True
        with open(self.path, "a", encoding="utf-8") as out:
            out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in new))
            out.flush()
            os.fsync(out.fileno())
        self.rows.update((row["id"], row) for row in new)

    def rows_of(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """The rows of ``ids``, in their order.

        Raises:
            RuntimeError: If some have no row (e.g. a generator that returned fewer answers than asked), naming how
                many and the first; a rerun answers them.
        """
        ids = list(ids)
        missing = self.todo(ids)
        if missing:
            raise RuntimeError(f"{self.path} has no answer to {len(missing)} queries (first id {missing[0]}): rerun")
        return [self.rows[i] for i in ids]

    def _parse(self, number: int, line: bytes) -> dict[str, Any]:
        """The row on line ``number``, checked against the queries."""
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.path}:{number} is not valid JSON ({error}); fix or remove that line") from None
        index = row.get("id") if isinstance(row, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(self.queries) or row.get("query") != self.queries[index]:
            raise ValueError(
                f"{self.path}:{number} holds the answer to another query (id {index}); use a new output file."
            )
        return row
