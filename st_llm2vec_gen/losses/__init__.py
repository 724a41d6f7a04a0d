from .llm2vec_gen_loss import LLM2VecGenLoss, reconstruction_loss

__all__ = ["LLM2VecGenLoss", "reconstruction_loss"]
