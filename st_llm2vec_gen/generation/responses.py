"""Generating the frozen LLM's own answers to unlabeled queries: the training targets of LLM2Vec-Gen.

:func:`generate_responses` asks an :class:`~.engines.Engine` for the answers batch by batch and appends
``{"id", "query", "response", "truncated"}`` rows to a :class:`~.response_file.ResponseFile` (the format, its
settings file and why it is safe to kill at any moment and re-run are described there). ``shard=(i, n)`` splits the
work across processes (:mod:`~.shards`: one output file each).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..io.output_lock import lock_beside
from .engines import Engine, Generation, GenerationSettings, TransformersEngine, chat_prompts
from .response_file import ResponseFile, response_row, settings_record
from .shards import shard_ids

logger = logging.getLogger(__name__)

__all__ = ["Generation", "GenerationSettings", "answer", "chat_prompts", "generate_responses"]


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
    file = ResponseFile(output_path, queries)
    file.resume()
    file.check_settings(settings_record(settings, engine.name, engine.model_decoding))
    todo = file.todo(todo_ids)
    initial = len(todo_ids) - len(todo)
    logger.info("%d of %d queries already answered in %s", initial, len(todo_ids), output_path)
    per_call = settings.batch_size * (1 if settings.do_sample else getattr(engine, "batches_per_call", 1))
    with tqdm(total=len(todo_ids), initial=initial, disable=not show_progress, desc="Generating") as bar:
        for start in range(0, len(todo), per_call):
            batch = todo[start : start + per_call]
            seeded = replace(settings, seed=settings.seed + batch[0])
            generations = _answer_batch(engine, [queries[i] for i in batch], seeded)
            file.append([response_row(i, queries[i], g) for i, g in zip(batch, generations)])
            bar.update(len(batch))
    return file.rows_of(todo_ids)


def _answer_batch(engine: Engine, texts: list[str], settings: GenerationSettings) -> list[Generation]:
    generations = engine.answer(texts, settings)
    if len(generations) != len(texts):
        raise RuntimeError(f"{engine.name} returned {len(generations)} answers to {len(texts)} queries")
    return generations
