"""Training an LLM2Vec-Gen head: the recipe settings, the run, sentence-transformers' trainer, batches and teachers."""

from .config import TrainConfig
from .run import train
from .trainer import LLM2VecGenTrainer

__all__ = ["LLM2VecGenTrainer", "TrainConfig", "train"]
