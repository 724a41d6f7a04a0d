"""A batch sampler that groups training pairs of similar length, so batches carry little padding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Random batches of pairs of similar length, for ``batch_sampler`` in the training arguments.

    A step's cost is dominated by its longest query and response (every row is padded to them). Each epoch the
    indices are shuffled, cut into pools of ``pool_batches`` batches, each pool sorted by length and cut into
    batches, and the batches shuffled: every pair is seen once per epoch, batches stay random in order and in which
    pairs meet, and padding drops. Length is the characters of the ``query`` and ``response`` columns.

    Args:
        dataset: The training dataset.
        batch_size: Pairs per batch.
        drop_last: Drop the last incomplete batch.
        valid_label_columns: Unused (the base class's argument).
        generator: Random number generator for the shuffles.
        seed: Seed, plus the epoch, of each epoch's shuffles.
        pool_batches: Batches per length-sorted pool (larger: less padding, less random composition).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        pool_batches: int = 16,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        columns = [c for c in ("query", "response") if c in dataset.column_names]
        self.lengths = [sum(len(row[c]) for c in columns) for row in dataset.select_columns(columns)]
        self.pool_batches = pool_batches

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.batch_size)
        return full if self.drop_last or not rest else full + 1

    def __iter__(self) -> Iterator[list[int]]:
        generator = self.generator or torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        pool = self.batch_size * self.pool_batches
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=self.lengths.__getitem__)
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:  # only the last pool can leave one
            batches.pop()
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]
