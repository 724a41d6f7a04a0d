"""Splitting queries across processes: which ids a shard answers, and the file it writes them to."""

from __future__ import annotations

import pytest

from st_llm2vec_gen.generation.shards import shard_ids, shard_path


def test_a_shard_has_a_file_of_its_own():
    assert shard_path("out/responses.jsonl") == "out/responses.jsonl"
    assert shard_path("out/responses.jsonl", (0, 1)) == "out/responses.jsonl"
    assert shard_path("out/responses.jsonl", (1, 4)) == "out/responses.shard-1-of-4.jsonl"
    assert shard_path("responses", (0, 2)) == "responses.shard-0-of-2"


def test_shards_split_the_ids_once():
    assert shard_ids(5, (0, 2)) + shard_ids(5, (1, 2)) == [0, 2, 4, 1, 3]
    assert shard_ids(5, (1, 2), ids=[4, 3, 3, 1]) == [1, 3]
    with pytest.raises(ValueError, match="shard index"):
        shard_ids(5, (2, 2))
    with pytest.raises(ValueError, match="query indices"):
        shard_ids(5, ids=[5])
