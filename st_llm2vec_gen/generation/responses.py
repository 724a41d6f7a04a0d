"""Generating the frozen LLM's own answers to unlabeled queries: the training targets of LLM2Vec-Gen.

:func:`generate_responses` asks an :class:`~.engines.Engine` for the answers batch by batch and appends
``{"id", "query", "response", "truncated"}`` rows to a JSONL file. It is safe to kill at any moment and re-run:

- rows are only ever appended (and flushed per batch); a line cut by a kill is removed by truncating the file to the
  end of its last complete line, so the rows already there are never rewritten;
- the settings file ``<output>.settings.json`` is written atomically when the first batch lands, and a settings file
  whose output holds no rows never blocks a corrected re-run;
- ``shard=(i, n)`` splits the work across processes (one output file each).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, replace
from typing import Any

from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..io.output_lock import lock_beside
from ..models.atomic_files import atomic_write
from .engines import Engine, Generation, GenerationSettings, TransformersEngine, chat_prompts

logger = logging.getLogger(__name__)

__all__ = ["Generation", "GenerationSettings", "answer", "chat_prompts", "generate_responses"]

# Settings added after response files were first written, with the value those files were generated with.
_LEGACY_SETTINGS = {"use_model_generation_config": False}


def answer(
    backbone: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, queries: list[str], settings: GenerationSettings
) -> list[str]:
    """The backbone's answers to ``queries`` (texts only): :class:`TransformersEngine`."""
    return [generation.text for generation in TransformersEngine(backbone, tokenizer).answer(queries, settings)]


def generate_responses(
    engine: Engine,
    queries: list[str],
    output_path: str,
    settings: GenerationSettings | None = None,
    shard: tuple[int, int] = (0, 1),
    show_progress: bool = True,
    ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Answers ``queries`` with ``engine``, appending ``{"id", "query", "response", "truncated"}`` rows to a file.

    Args:
        engine: The generator (:class:`~.engines.TransformersEngine`, ``VLLMEngine``, ...).
        queries: Query texts; a row's ``id`` is the query's index in this list.
        output_path: JSONL file; rows already there (same ids and queries) are kept and skipped.
        settings: Decoding settings; recorded with the generator as ``<output_path>.settings.json``.
        shard: ``(index, count)``: this process answers the queries whose id modulo count equals index.
        show_progress: Show a progress bar.
        ids: Answer only these query ids (e.g. one source of a corpus first); ``None``: all of the shard.

    Returns:
        All rows of this shard, in id order. ``truncated`` is true when the response was cut at ``max_new_tokens``
        (it then has no end of its own); rows written before this field existed lack it.

    Raises:
        ValueError: For a bad shard, or an output that holds answers to other queries or was generated with other
            settings.
        OutputLockedError: If another live process is writing ``output_path``.
    """
    settings = settings or GenerationSettings()
    todo_ids = shard_ids(len(queries), shard, ids)
    with lock_beside(output_path):
        return _generate_locked(engine, queries, output_path, settings, todo_ids, show_progress)


def _generate_locked(
    engine: Engine,
    queries: list[str],
    output_path: str,
    settings: GenerationSettings,
    todo_ids: list[int],
    show_progress: bool,
) -> list[dict[str, Any]]:
    """:func:`generate_responses` once it holds the output's lock."""
    done = _read_rows(output_path, queries)
    record = _settings_record(engine, settings)
    recorded = _check_settings(output_path, record, has_rows=bool(done))
    todo = [i for i in todo_ids if i not in done]
    logger.info("%d of %d queries already answered in %s", len(todo_ids) - len(todo), len(todo_ids), output_path)
    initial = len(todo_ids) - len(todo)
    per_call = settings.batch_size * (1 if settings.do_sample else getattr(engine, "batches_per_call", 1))
    with tqdm(total=len(todo_ids), initial=initial, disable=not show_progress, desc="Generating") as bar:
        for start in range(0, len(todo), per_call):
            batch = todo[start : start + per_call]
            seeded = replace(settings, seed=settings.seed + batch[0])
            generations = _answer_batch(engine, [queries[i] for i in batch], seeded)
            if not recorded:  # only now: a run that fails before its first answer leaves no settings behind
                _write_json_atomic(_settings_path(output_path), record)
                recorded = True
            rows = [_row(i, queries[i], g) for i, g in zip(batch, generations)]
            _append_rows(output_path, rows)
            done.update((row["id"], row) for row in rows)
            bar.update(len(batch))
    return [done[i] for i in todo_ids]


def shard_ids(queries: int, shard: tuple[int, int] = (0, 1), ids: Iterable[int] | None = None) -> list[int]:
    """The query ids one shard answers: ``ids`` (default all) whose index modulo ``count`` is ``index``, sorted.

    Raises:
        ValueError: For a bad shard, or ids outside ``[0, queries)``.
    """
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in [0, {count}), got {index}")
    wanted = range(queries) if ids is None else sorted(set(ids))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < queries:
        raise ValueError(f"ids must be query indices in [0, {queries}), got {wanted[0]}..{wanted[-1]}")
    return [i for i in wanted if i % count == index]


def _answer_batch(engine: Engine, texts: list[str], settings: GenerationSettings) -> list[Generation]:
    generations = engine.answer(texts, settings)
    if len(generations) != len(texts):
        raise RuntimeError(f"{engine.name} returned {len(generations)} answers to {len(texts)} queries")
    return generations


def _row(index: int, query: str, generation: Generation) -> dict[str, Any]:
    return {"id": index, "query": query, "response": generation.text, "truncated": generation.truncated}


def _append_rows(path: str, rows: list[dict[str, Any]]) -> None:
    """Appends rows and syncs them: a batch is either on disk or answered again after an interruption."""
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        out.flush()
        os.fsync(out.fileno())


def _write_json_atomic(path: str, value: Any) -> None:
    """Writes ``value`` as JSON (keys in their order), synced to disk, to a temporary file renamed over ``path``."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, dump)


def _settings_path(output_path: str) -> str:
    return output_path + ".settings.json"


def _settings_record(engine: Engine, settings: GenerationSettings) -> dict[str, Any]:
    record = {**asdict(settings), "generator": engine.name}
    if settings.use_model_generation_config:
        record["model_generation_config"] = engine.model_decoding()
    return record


def _decoding(record: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what is generated: the generator and decoding (batch size does not)."""
    return {k: v for k, v in {**_LEGACY_SETTINGS, **record}.items() if k != "batch_size"}


def _check_settings(output_path: str, record: dict[str, Any], has_rows: bool) -> bool:
    """Whether the recorded settings match; raises if they differ and the output holds rows made with them."""
    path = _settings_path(output_path)
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    if _decoding(previous) == _decoding(record):
        return True
    if has_rows:
        raise ValueError(
            f"{output_path} was generated with other settings ({previous}); use a new output file to change them "
            "(the generator's name carries the backbone dtype when it is not float32: `--dtype` chooses it)."
        )
    logger.warning("%s holds no rows: its settings file %s will be replaced", output_path, path)
    return False


def _read_rows(path: str, queries: list[str]) -> dict[int, dict[str, Any]]:
    """The rows already in ``path`` by id; a partial last line (a kill mid-write) is cut off the file in place."""
    done: dict[int, dict[str, Any]] = {}
    if not os.path.exists(path):
        return done
    complete = 0  # bytes up to the end of the last complete line
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                break
            complete += len(line)
            if line.strip():
                row = _parse_row(path, number, line, queries)
                done[row["id"]] = row
    size = os.path.getsize(path)
    if complete < size:
        logger.warning("%s ends with a partial line (%d bytes): dropping it", path, size - complete)
        os.truncate(path, complete)  # no rewrite: the complete rows' bytes stay where they are
    return done


def _parse_row(path: str, number: int, line: bytes, queries: list[str]) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number} is not valid JSON ({error}); fix or remove that line") from None
    index = row.get("id") if isinstance(row, dict) else None
    if not isinstance(index, int) or not 0 <= index < len(queries) or row.get("query") != queries[index]:
        raise ValueError(f"{path}:{number} holds the answer to another query (id {index}); use a new output file.")
    return row
