"""The training dataset: query/response pairs with their teacher labels, grouped by the instruction each query gets.

The instruction reaches the module as sentence-transformers' training ``prompts`` and is joined to the text by the
module's own rule (:func:`~st_llm2vec_gen.models.inputs.with_prompt`), exactly as at inference. A query stored with
one of the model's prompts already in front of it (a passage wrapped as ``"Summarize the following passage: ..."``)
is split back into that prompt and its text, and trained in a dataset of its own whose prompt is that one:
sentence-transformers gives prompts per column and per dataset, not per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..io.records import Pairs
from ..models.inputs import with_prompt
from .collator import CUT_COLUMN

QUERIES = "queries"
"""The dataset of queries that get ``data.query_prompt`` (all of them, when none is stored with a prompt)."""


def split_prompt(query: str, prompts: Mapping[str, str]) -> tuple[str | None, str]:
    """``(name, text)`` when ``query`` is one of ``prompts`` joined to a text by :func:`with_prompt`, else
    ``(None, query)``; the longest matching prompt wins."""
    for name, prompt in sorted(prompts.items(), key=lambda item: -len(item[1] or "")):
        if prompt and query.startswith(prompt):
            text = query[len(prompt) :].removeprefix("" if prompt[-1].isspace() else " ")
            if text and with_prompt(prompt, text) == query:
                return name, text
    return None, query


def training_dataset(
    pairs: Pairs, labels: np.ndarray, query_prompt: str | None, prompts: Mapping[str, str]
) -> tuple[Any, dict[str, Any]]:
    """The ``Dataset`` (or ``DatasetDict`` of prompt groups) to train on and the training arguments' ``prompts``.

    Args:
        pairs: The query/response pairs (:func:`~st_llm2vec_gen.io.records.load_pairs`).
        labels: The teacher's targets, (N, D).
        query_prompt: The instruction of queries stored without one.
        prompts: The model's prompts, by name.

    Returns:
        The dataset, with columns ``query``, ``response``, ``response_truncated`` (when any response was cut) and
        ``label``; and ``{"query": prompt}``, or ``{group: {"query": prompt}}`` for a ``DatasetDict``.
    """
    from datasets import Dataset, DatasetDict

    groups: dict[str, dict[str, list]] = {}
    given = {name: p for name, p in prompts.items() if p and p != query_prompt}
    for i, query in enumerate(pairs.queries):
        name, text = split_prompt(query, given)
        if name is None and query_prompt:  # a query stored with the query prompt itself keeps it once
            found, rest = split_prompt(query, {QUERIES: query_prompt})
            text = rest if found else text
        rows = groups.setdefault(name or QUERIES, {"query": [], "response": [], CUT_COLUMN: [], "label": []})
        for column, value in (("query", text), ("response", pairs.responses[i]),
                              (CUT_COLUMN, pairs.truncated[i]), ("label", labels[i])):  # fmt: skip
            rows[column].append(value)
    if not any(pairs.truncated):
        for rows in groups.values():
            del rows[CUT_COLUMN]
    instruction = {name: given.get(name, query_prompt) for name in groups}
    if list(groups) == [QUERIES]:
        return Dataset.from_dict(groups[QUERIES]), ({"query": query_prompt} if query_prompt else {})
    dataset = DatasetDict({name: Dataset.from_dict(rows) for name, rows in groups.items()})
    return dataset, {name: {"query": p} for name, p in instruction.items() if p}
