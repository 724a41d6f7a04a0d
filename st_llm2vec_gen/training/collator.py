"""``LLM2VecGenDataCollator``: sentence-transformers' collator, plus the flag columns of the response column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

CUT_COLUMN = "response_truncated"
"""The dataset column that marks a response cut at the generation limit: its EOS is no reconstruction target."""

FLAG_COLUMNS = (CUT_COLUMN,)


@dataclass
class LLM2VecGenDataCollator(SentenceTransformerDataCollator):
    """Tokenizes text columns as sentence-transformers does and passes each flag column through as a bool tensor.

    A flag column is named ``<column>_<flag>`` (``response_truncated``), so the trainer's ``collect_features`` puts
    it into that column's features, where the loss reads it by name (``response["truncated"]``, shape (B,)).
    """

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        flags = [c for c in FLAG_COLUMNS if features and c in features[0]]
        texts = [{k: v for k, v in row.items() if k not in flags} for row in features]
        batch = super().__call__(texts)
        for column in flags:
            batch[column] = torch.tensor([bool(row[column]) for row in features])  # (B,)
        return batch
