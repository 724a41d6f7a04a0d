"""The ``llm2vec-gen`` command (``python -m st_llm2vec_gen.cli`` runs it too, e.g. under torchrun)."""

from .main import main

__all__ = ["main"]
