"""The backbone's own answers: generation engines (transformers, vLLM) and resumable response files, also on Ray."""

from .engines import Engine, Generation, GenerationSettings, TransformersEngine, VLLMEngine
from .responses import generate_responses

__all__ = ["Engine", "Generation", "GenerationSettings", "TransformersEngine", "VLLMEngine", "generate_responses"]
