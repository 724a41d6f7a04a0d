"""Generation engines for :func:`~st_llm2vec_gen.responses.generate_responses` beyond transformers.

The default engine is the backbone itself (transformers ``generate``, batched, KV cache). When a corpus outgrows
that, :class:`VLLMEngine` hands generation to vLLM (``pip install vllm``, a CUDA machine) behind the same interface:
same chat template, same decoding settings, same resumable and shardable JSONL output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .responses import GenerationSettings, chat_prompts


class Engine(Protocol):
    """Answers queries; ``name`` is recorded as the generator next to the responses."""

    name: str

    def answer(self, queries: list[str], settings: GenerationSettings) -> list[str]: ...


class VLLMEngine:
    """vLLM as the generation engine.

    Prompts are built and tokenized here exactly as for the transformers engine (the chat template with thinking
    disabled, then ids without extra special tokens) and passed to vLLM as token ids, so both engines see the same
    input. Greedy unless ``settings.do_sample``; sampling is seeded per request with ``settings.seed``.

    Args:
        model: A hub id or local directory that vLLM can load.
        **llm_kwargs: Passed to ``vllm.LLM`` (``dtype``, ``tensor_parallel_size``, ``gpu_memory_utilization``, ...).
    """

    def __init__(self, model: str, **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError("The vllm engine needs `pip install vllm` (and a GPU it supports).") from error
        self.llm = LLM(model=model, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.name = f"vllm:{Path(model).name}"

    def answer(self, queries: list[str], settings: GenerationSettings) -> list[str]:
        """One response per query, in order."""
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=settings.max_new_tokens,
            temperature=settings.temperature if settings.do_sample else 0.0,
            top_p=settings.top_p if settings.do_sample else 1.0,
            seed=settings.seed if settings.do_sample else None,
        )
        texts = chat_prompts(self.tokenizer, queries, settings.max_query_length)
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]  # the template carries its own
        outputs = self.llm.generate([{"prompt_token_ids": row} for row in ids], params, use_tqdm=False)
        return [output.outputs[0].text.strip() for output in outputs]
