"""What both LLM2Vec-Gen losses share: the paper's citation and the checks of their arguments."""

from __future__ import annotations

import math
from typing import Any

from ..models.llm2vec_gen import is_llm2vec_gen

CITATION = """@article{behnamghader2026llm2vecgen,
    title = {{LLM2Vec-Gen}: Generative Embeddings from Large Language Models},
    author = {BehnamGhader, Parishad and Adlakha, Vaibhav and Schmidt, Fabian David and Chapados, Nicolas and
              Mosbach, Marius and Reddy, Siva},
    journal = {arXiv preprint arXiv:2603.10913},
    year = {2026},
}"""
"""BibTeX of the paper, the ``citation`` of both losses (sentence-transformers puts it in the model card)."""


def check_model(model: Any, loss_name: str) -> None:
    """Raises a TypeError unless the model's first module is an LLM2Vec-Gen module (see ``is_llm2vec_gen``)."""
    if not is_llm2vec_gen(model[0]):
        raise TypeError(
            f"{loss_name} needs a model whose first module is LLM2VecGen (st_llm2vec_gen.create_model or a saved "
            f"LLM2Vec-Gen model), got {type(model[0]).__name__} first."
        )


def check_weight(name: str, value: Any, positive: bool = False) -> None:
    """Raises a ValueError unless ``value`` is a finite number ``>= 0`` (``> 0`` when ``positive``), not a bool."""
    number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not number or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
