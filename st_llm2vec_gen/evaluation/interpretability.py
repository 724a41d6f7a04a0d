"""Interpretability report: what the embedding of a query decodes to, next to what the LLM itself answers.

For each sample query (everyday questions, SciFact claims and AdvBench harmful requests) the report holds the text the
frozen LLM generates from the soft prompt R(h), the logit-lens keywords of the compression states, and the LLM's
own greedy answer to the query. Harmful queries should decode to refusals where the LLM refuses.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

from ..generation.engines import GenerationSettings, TransformersEngine
from ..io.records import iter_jsonl

EVERYDAY = ["Where do polar bears live?", "What is the capital of France?", "How do vaccines train the immune system?"]


def sample_queries(data_dir: Path, per_source: int = 3) -> list[tuple[str, str]]:
    """(source, query) pairs: everyday questions, the first SciFact claims and the first AdvBench requests."""
    samples = [("everyday", q) for q in EVERYDAY[:per_source]]
    scifact = data_dir / "scifact" / "queries.jsonl"
    if scifact.is_file():
        samples += [("scifact", row["text"]) for _, row in itertools.islice(iter_jsonl(str(scifact)), per_source)]
    advbench = data_dir / "advbench" / "harmful_behaviors.csv"
    if advbench.is_file():
        with open(advbench, encoding="utf-8", newline="") as f:
            samples += [("advbench", row["goal"]) for row, _ in zip(csv.DictReader(f), range(per_source))]
    return samples


def interpretability_report(model: Any, data_dir: Path, config: Any, max_new_tokens: int = 40) -> list[dict[str, Any]]:
    """Decoded text, logit-lens keywords and the LLM's own answer for each sample query (no instruction).

    Args:
        model: A SentenceTransformer whose first module is an LLM2Vec-Gen module (``None`` skips the report).
        data_dir: The bundled data folder.
        config: The suite config (its ``batch_size``).
        max_new_tokens: Tokens to decode and to generate per query.
    """
    if model is None:
        return []
    module = model[0]
    samples = sample_queries(data_dir)
    queries = [q for _, q in samples]
    decoded = module.decode(queries, max_new_tokens=max_new_tokens)
    keywords = module.logit_lens(queries, top_k=10)
    settings = GenerationSettings(max_new_tokens=max_new_tokens, batch_size=config.batch_size)
    answers = [g.text for g in TransformersEngine(module.backbone, module.tokenizer).answer(queries, settings)]
    return [
        {"source": source, "query": query, "decoded": text, "logit_lens": words, "llm_answer": reply}
        for (source, query), text, words, reply in zip(samples, decoded, keywords, answers)
    ]
