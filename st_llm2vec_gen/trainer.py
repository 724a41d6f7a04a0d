"""``LLM2VecGenTrainer``: sentence-transformers' trainer that resumes an LLM2Vec-Gen run without a second backbone."""

from __future__ import annotations

import logging
import os

from sentence_transformers import SentenceTransformerTrainer

from .models.config import LLM2VecGenConfig
from .models.llm2vec_gen import LLM2VecGen
from .models.saved_format import CONFIG_NAME, WEIGHTS_NAME, read_saved_json, read_weights

logger = logging.getLogger(__name__)


class LLM2VecGenTrainer(SentenceTransformerTrainer):
    """A drop-in ``SentenceTransformerTrainer`` for models whose first module is :class:`LLM2VecGen`.

    Resuming from a checkpoint, sentence-transformers loads the whole checkpointed model next to the one in training
    and copies its state over: for LLM2Vec-Gen that is a second full backbone in memory (twice an 8B model's weights)
    to restore a head of a few MB. The backbone is frozen and never saved in checkpoints, so this trainer reads only
    the checkpoint's head weights into the live module. Other models resume as in sentence-transformers.

    Saving: transformers 5 calls ``_save`` on every rank and leaves the rank check to it, which sentence-transformers'
    override skips, so under DDP every rank wrote the same checkpoint files at once. Here only the writing rank saves.
    """

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:  # the trainer's hook
        if self.args.should_save:
            super()._save(output_dir, state_dict=state_dict)

    def _load_from_checkpoint(self, checkpoint_path: str) -> None:  # the trainer's hook for resuming
        model = getattr(self.model, "_orig_mod", self.model)
        module = model[0] if len(model) else None
        if not isinstance(module, LLM2VecGen):
            super()._load_from_checkpoint(checkpoint_path)
            return
        load_head(module, checkpoint_path)
        logger.info("Resumed the LLM2Vec-Gen head from %s (the frozen backbone stays as loaded)", checkpoint_path)


def load_head(module: LLM2VecGen, path: str) -> None:
    """Copies the head (compression tokens, R, A) of a saved LLM2Vec-Gen model or checkpoint into ``module``.

    Args:
        module: The live module; its backbone stays as loaded.
        path: A saved model directory or a training checkpoint.

    Raises:
        FileNotFoundError: If ``path`` holds no LLM2Vec-Gen head.
        ValueError: If the head was trained on another backbone or with other settings (token count, dimension).
    """
    folder = os.path.join(path, _module_folder(path))
    config_path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{path} holds no LLM2Vec-Gen head ({CONFIG_NAME} is missing).")
    _, shape = LLM2VecGenConfig.from_saved(read_saved_json(config_path), config_path)
    shape.check(module.backbone_shape, module.backbone_name_or_path)
    module.load_trainable_state(read_weights(os.path.join(folder, WEIGHTS_NAME)))


def _module_folder(path: str) -> str:
    """The first module's folder inside a saved model (``""`` for LLM2Vec-Gen models, which save at the root)."""
    modules = os.path.join(path, "modules.json")
    if not os.path.isfile(modules):
        return ""
    return read_saved_json(modules, list)[0].get("path", "")
