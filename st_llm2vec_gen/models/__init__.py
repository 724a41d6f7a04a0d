from .backbones import load_backbone
from .config import EMBEDDED_BACKBONE, BackboneShape, LLM2VecGenConfig
from .llm2vec_gen import LLM2VecGen, is_llm2vec_gen

__all__ = ["EMBEDDED_BACKBONE", "BackboneShape", "LLM2VecGen", "LLM2VecGenConfig", "is_llm2vec_gen", "load_backbone"]
