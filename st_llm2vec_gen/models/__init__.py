from .backbones import EMBEDDED_BACKBONE, load_backbone
from .llm2vec_gen import LLM2VecGen

__all__ = ["EMBEDDED_BACKBONE", "LLM2VecGen", "load_backbone"]
