"""Building a new LLM2Vec-Gen SentenceTransformer around a backbone."""

from __future__ import annotations

from typing import Any

from huggingface_hub import constants
from sentence_transformers import SentenceTransformer

from .model_card import LLM2VecGenModelCardData
from .models import EMBEDDED_BACKBONE, LLM2VecGen
from .prompts import DEFAULT_PROMPTS


def create_model(
    backbone: str = EMBEDDED_BACKBONE,
    prompts: dict[str, str] | None = None,
    device: str | None = None,
    **module_kwargs: Any,
) -> SentenceTransformer:
    """Creates an untrained LLM2Vec-Gen model with the default answer-describing prompts and its model card.

    Args:
        backbone: A hub id, local directory, ``.gguf`` file or :data:`EMBEDDED_BACKBONE`.
        prompts: ST prompts; defaults to :data:`DEFAULT_PROMPTS`.
        device: Device for the model, e.g. ``"cuda"``; ST picks one when None.
        **module_kwargs: Passed to :class:`LLM2VecGen` (``num_tokens``, ``embedding_dim``, ``max_seq_length``,
            ``store_backbone``, ``model_kwargs``, ``seed``).

    Returns:
        A SentenceTransformer whose only module is the :class:`LLM2VecGen` module.
    """
    module = LLM2VecGen(backbone, **module_kwargs)
    card = LLM2VecGenModelCardData(local_files_only=constants.HF_HUB_OFFLINE)
    prompts = dict(DEFAULT_PROMPTS if prompts is None else prompts)
    return SentenceTransformer(modules=[module], prompts=prompts, device=device, model_card_data=card)
