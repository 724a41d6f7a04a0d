from .llm2vec_gen_loss import LLM2VecGenLoss, reconstruction_loss
from .reconstruction_regularized import ReconstructionRegularizedLoss

__all__ = ["LLM2VecGenLoss", "ReconstructionRegularizedLoss", "reconstruction_loss"]
