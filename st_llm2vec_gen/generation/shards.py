"""Splitting the answering of one list of queries across processes: shard ``i`` of ``n`` answers the queries whose
index modulo ``n`` is ``i``, into a response file of its own (parallel processes never append to the same file)."""

from __future__ import annotations

import os
from collections.abc import Iterable


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


def shard_path(output: str, shard: tuple[int, int] = (0, 1)) -> str:
    """The response file of one shard: ``output`` itself for a single shard, else ``<root>.shard-<i>-of-<n><ext>``
    (``responses.jsonl``, shard 0 of 2: ``responses.shard-0-of-2.jsonl``)."""
    index, count = shard
    if count <= 1:
        return output
    root, ext = os.path.splitext(output)
    return f"{root}.shard-{index}-of-{count}{ext}"
