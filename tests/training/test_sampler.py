"""LengthGroupedBatchSampler: every pair once per epoch, less padding than random batches, seeded."""

from __future__ import annotations

import random

from datasets import Dataset

from st_llm2vec_gen.training.sampler import LengthGroupedBatchSampler


def _dataset(n: int = 203) -> Dataset:
    rng = random.Random(0)
    return Dataset.from_dict({"query": ["q" * rng.randint(1, 50) for _ in range(n)],
                              "response": ["r" * rng.randint(1, 400) for _ in range(n)]})  # fmt: skip


def _padding(dataset: Dataset, batches: list[list[int]]) -> int:
    lengths = [len(q) + len(r) for q, r in zip(dataset["query"], dataset["response"])]
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_each_pair_once_per_epoch_with_less_padding():
    data = _dataset()
    sampler = LengthGroupedBatchSampler(data, batch_size=8, drop_last=False, seed=3, pool_batches=8)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(data))) and len(batches) == len(sampler)
    random_batches = [list(range(i, min(i + 8, len(data)))) for i in range(0, len(data), 8)]
    assert _padding(data, batches) < 0.5 * _padding(data, random_batches)


def test_seeded_per_epoch_and_drop_last():
    data = _dataset()
    sampler = LengthGroupedBatchSampler(data, batch_size=8, drop_last=True, seed=3)
    first = list(sampler)
    assert first == list(sampler) and all(len(b) == 8 for b in first) and len(first) == len(sampler) == 25
    sampler.set_epoch(1)
    assert list(sampler) != first
