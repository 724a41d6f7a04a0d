"""The CPU engine of ``llm2vec-gen generate``: :class:`~.engines.TransformersEngine` whose greedy answers come from
:class:`~.fast_greedy.FastGreedy` (1.8x ``generate`` in bf16, 1.35x in float32, measured by bench/generation_speed.py).

Sampling and the model's own decoding settings stay with ``generate`` (they may add logits processors). In float32
the answers are ``generate``'s, token for token, whatever the batch, so the generator keeps its name and resumes
files ``generate`` wrote; in another format an answer depends on the rows it shares a batch with, and the batches
differ from ``generate``'s, so the name says ``+fast``.
"""

from __future__ import annotations

import logging

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .engines import Generation, GenerationSettings, TransformersEngine
from .fast_greedy import FastGreedy, supports

logger = logging.getLogger(__name__)


class FastGreedyEngine(TransformersEngine):
    """Greedy answers by :class:`FastGreedy`; the rest as :class:`TransformersEngine`.

    Attributes:
        batches_per_call: Batches of queries to hand over per :meth:`answer` call: rows that finish early are refilled
            from the same call's queries, so more than one batch keeps the batch full.
    """

    batches_per_call = 8

    def __init__(self, backbone: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__(backbone, tokenizer)
        self.fast = FastGreedy(backbone, tokenizer)
        if backbone.dtype != torch.float32:
            self.name += "+fast"

    def answer(self, queries: list[str], settings: GenerationSettings) -> list[Generation]:
        """One generation per query, in order."""
        if settings.do_sample or settings.use_model_generation_config:
            return super().answer(queries, settings)
        with torch.inference_mode():
            return self.fast.answer(queries, settings.max_new_tokens, settings.batch_size, settings.max_query_length)


def cpu_engine(engine: TransformersEngine) -> TransformersEngine:
    """``engine`` as a :class:`FastGreedyEngine` when its backbone runs on the CPU in an architecture
    :class:`FastGreedy` supports, else ``engine`` itself."""
    if engine.backbone.device.type != "cpu" or not supports(engine.backbone):
        return engine
    logger.info("Greedy answers on the CPU by FastGreedy (sorted, refilled batches; its own decoding step)")
    return FastGreedyEngine(engine.backbone, engine.tokenizer)
