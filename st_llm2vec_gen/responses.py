"""Generating the frozen LLM's own answers to unlabeled queries: the training targets of LLM2Vec-Gen.

Each query goes through the backbone's chat template (thinking disabled where the template supports it) and is
answered greedily by default, in left-padded batches with KV cache. Results are appended to a JSONL file batch by
batch, so an interrupted run continues where it stopped, and ``shard=(i, n)`` splits the work across processes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@dataclass
class GenerationSettings:
    """How responses are generated.

    Attributes:
        max_new_tokens: Maximum tokens per response.
        batch_size: Queries per generation batch.
        do_sample: Sample instead of greedy decoding.
        temperature: Sampling temperature (with ``do_sample``).
        top_p: Nucleus sampling threshold (with ``do_sample``).
        seed: Seed for sampling; each batch is seeded with ``seed + its first query index``.
        max_query_length: Queries longer than this (in tokens, after the chat template) are cut at the end.
    """

    max_new_tokens: int = 256
    batch_size: int = 8
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0
    max_query_length: int = 512


def chat_prompts(
    tokenizer: PreTrainedTokenizerBase, queries: list[str], max_query_length: int | None = None
) -> list[str]:
    """Each query as a single user turn in the tokenizer's chat template, ready for the assistant's answer.

    A query longer than ``max_query_length`` tokens is cut at its end *before* templating, so the assistant header
    that asks for the answer is never cut away.
    """
    if not tokenizer.chat_template:
        raise ValueError("The backbone's tokenizer has no chat template: generation needs an instruction model.")
    if max_query_length:
        queries = [_cut(tokenizer, query, max_query_length) for query in queries]
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": query}], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        for query in queries
    ]


@torch.inference_mode()
def answer(
    backbone: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, queries: list[str], settings: GenerationSettings
) -> list[str]:
    """Generates one response per query in a single left-padded batch."""
    if tokenizer.pad_token is None:  # e.g. Llama 3; padded positions are masked
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(
        chat_prompts(tokenizer, queries, settings.max_query_length),
        add_special_tokens=False,  # the chat template carries its own special tokens
        padding=True,
        padding_side="left",
        return_tensors="pt",
    ).to(backbone.device)
    eos = backbone.generation_config.eos_token_id
    config = GenerationConfig(
        max_new_tokens=settings.max_new_tokens,
        do_sample=settings.do_sample,
        temperature=settings.temperature if settings.do_sample else None,
        top_p=settings.top_p if settings.do_sample else None,
        use_cache=True,
        eos_token_id=eos if eos is not None else tokenizer.eos_token_id,  # all of the model's end ids
        pad_token_id=tokenizer.pad_token_id,
    )
    ids = backbone.generate(**encoded, generation_config=config)  # (B, prompt + new)
    new = ids[:, encoded["input_ids"].shape[1] :]  # (B, new)
    return [text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True)]


def _cut(tokenizer: PreTrainedTokenizerBase, text: str, max_tokens: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_tokens else tokenizer.decode(ids[:max_tokens])


def generate_responses(
    backbone: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase | None,
    queries: list[str],
    output_path: str,
    settings: GenerationSettings | None = None,
    shard: tuple[int, int] = (0, 1),
    show_progress: bool = True,
    engine: Any | None = None,
) -> list[dict[str, Any]]:
    """Answers ``queries`` with the backbone, appending ``{"id", "query", "response"}`` rows to ``output_path``.

    Args:
        backbone: The frozen causal LM (``None`` with an ``engine``).
        tokenizer: Its tokenizer, with a chat template (``None`` with an ``engine``).
        queries: Query texts; a row's ``id`` is the query's index in this list.
        output_path: JSONL file; rows already there (same ids and queries) are kept and skipped.
        settings: Decoding settings; recorded next to the output as ``<output_path>.settings.json``.
        shard: ``(index, count)``: this process answers the queries whose id modulo count equals index.
        show_progress: Show a progress bar.
        engine: Another generation engine (:class:`~st_llm2vec_gen.engines.VLLMEngine`) instead of the backbone.

    Returns:
        All rows of this shard, in id order.

    Raises:
        ValueError: If the existing output was made for other queries or other settings.
    """
    settings = settings or GenerationSettings()
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in [0, {count}), got {index}")
    todo_ids = [i for i in range(len(queries)) if i % count == index]
    if engine is None and backbone is None:
        raise ValueError("Pass the backbone and its tokenizer, or a generation engine.")
    generator = engine.name if engine is not None else Path(backbone.name_or_path).name
    done = _load_done(output_path, queries, settings, generator=generator)
    todo = [i for i in todo_ids if i not in done]
    logger.info("%d of %d queries already answered in %s", len(todo_ids) - len(todo), len(todo_ids), output_path)
    with (
        open(output_path, "a", encoding="utf-8") as out,
        tqdm(
            total=len(todo_ids), initial=len(todo_ids) - len(todo), disable=not show_progress, desc="Generating"
        ) as bar,
    ):
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start : start + settings.batch_size]
            texts = [queries[i] for i in batch]
            if engine is not None:
                responses = engine.answer(texts, settings)
            else:
                if settings.do_sample:
                    torch.manual_seed(settings.seed + batch[0])
                responses = answer(backbone, tokenizer, texts, settings)
            for i, response in zip(batch, responses):
                done[i] = {"id": i, "query": queries[i], "response": response}
                out.write(json.dumps(done[i], ensure_ascii=False) + "\n")
            out.flush()  # a batch is either fully on disk or regenerated after an interruption
            bar.update(len(batch))
    return [done[i] for i in todo_ids]


def _decoding(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what is generated: the generator and decoding (batch size does not)."""
    return {k: v for k, v in settings.items() if k != "batch_size"}


def _load_done(
    output_path: str, queries: list[str], settings: GenerationSettings, generator: str
) -> dict[int, dict[str, Any]]:
    settings_path = output_path + ".settings.json"
    record = {**asdict(settings), "generator": generator}
    if os.path.exists(settings_path):
        with open(settings_path, encoding="utf-8") as f:
            previous = json.load(f)
        if _decoding(previous) != _decoding(record):
            raise ValueError(
                f"{output_path} was generated with other settings ({previous}); use a new output file to change them."
            )
    else:
        with open(settings_path, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
    done: dict[int, dict[str, Any]] = {}
    if not os.path.exists(output_path):
        return done
    with open(output_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines[-1]:  # a line cut by an interruption: drop it, that query is answered again
        with open(output_path, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines[:-1])
    for line in lines[:-1]:
        if line.strip():
            row = json.loads(line)
            if row.get("id") is None or row["id"] >= len(queries) or row.get("query") != queries[row["id"]]:
                raise ValueError(f"{output_path} holds answers to other queries (id {row.get('id')}); use a new file.")
            done[row["id"]] = row
    return done
