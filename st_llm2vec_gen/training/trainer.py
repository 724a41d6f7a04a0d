"""``LLM2VecGenTrainer``: sentence-transformers' trainer that resumes an LLM2Vec-Gen run without a second backbone."""

from __future__ import annotations

import logging

from sentence_transformers import SentenceTransformerTrainer

from ..models.llm2vec_gen import is_llm2vec_gen
from .collator import LLM2VecGenDataCollator

logger = logging.getLogger(__name__)


class LLM2VecGenTrainer(SentenceTransformerTrainer):
    """A drop-in ``SentenceTransformerTrainer`` for models whose first module is :class:`LLM2VecGen`.

    Resuming from a checkpoint, sentence-transformers loads the whole checkpointed model next to the one in training
    and copies its state over: for LLM2Vec-Gen that is a second full backbone in memory (twice an 8B model's weights)
    to restore a head of a few MB. The backbone is frozen and never saved in checkpoints, so this trainer reads only
    the checkpoint's head weights into the live module. Other models resume as in sentence-transformers.

    Batches: :class:`LLM2VecGenDataCollator`, which also carries the ``response_truncated`` flag column to the loss.

    Saving: transformers 5 calls ``_save`` on every rank and leaves the rank check to it, which sentence-transformers'
    override skips, so under DDP every rank wrote the same checkpoint files at once. Here only the writing rank saves.
    """

    data_collator_class = LLM2VecGenDataCollator

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:  # the trainer's hook
        if self.args.should_save:
            super()._save(output_dir, state_dict=state_dict)

    def _load_from_checkpoint(self, checkpoint_path: str) -> None:  # the trainer's hook for resuming
        model = getattr(self.model, "_orig_mod", self.model)
        module = model[0] if len(model) else None
        if not is_llm2vec_gen(module):
            super()._load_from_checkpoint(checkpoint_path)
            return
        module.load_head(checkpoint_path)
        logger.info("Resumed the LLM2Vec-Gen head from %s (the frozen backbone stays as loaded)", checkpoint_path)
