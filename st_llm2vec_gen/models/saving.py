"""Saving and loading an LLM2Vec-Gen module: the head, its config and, for a self-contained model, backbone and code.

:class:`SavedHeadMixin` gives :class:`~.llm2vec_gen.LLM2VecGen` its ``save``/``load`` and the one reader of a saved head
(:meth:`SavedHeadMixin.read_head`) behind ``load``, trainer resume and ``init_from``. The saved config is the
constructor's settings as sentence-transformers' ``Module`` saves and reads them (``config_keys``,
``get_config_dict``, ``save_config``, ``load_config`` with ``config_key_renames``), plus the backbone facts that
loading checks. Copied into self-contained saved models with its siblings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import torch

from .atomic_files import write_json
from .config import BackboneShape, LLM2VecGenConfig, saved_config
from .locations import looks_like_path
from .saved_format import (
    BACKBONE_FOLDER,
    CONFIG_NAME,
    WEIGHTS_NAME,
    copy_code,
    declare_requirements,
    module_folder,
    read_weights,
    save_backbone,
    write_weights,
)


class SavedHeadMixin:
    """``save``, ``load`` and head reading for a sentence-transformers module with ``config_keys``, ``head`` (a
    :class:`~.trainable_head.TrainableHead`), ``backbone_shape``, ``trainable_state_dict`` and ``code_file`` (its
    class's file)."""

    def get_config_dict(self) -> dict[str, Any]:
        """The saved configuration: the ``config_keys`` as sentence-transformers reads them, with the backbone's
        facts for mismatch checks on load and the format version (:func:`~.config.saved_config`)."""
        return saved_config(super().get_config_dict(), self.backbone_shape)

    def save_config(self, output_path: str, filename: str | None = None) -> None:
        """Writes :meth:`get_config_dict` as sentence-transformers' ``save_config`` does, through a temporary file."""
        write_json(os.path.join(output_path, filename or self.config_file_name), self.get_config_dict())

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """Saves the trainable weights (safetensors), the config and, with ``store_backbone``, backbone and code."""
        if not self.store_backbone and not self.backbone_name_or_path:
            raise ValueError(
                "The backbone was passed as an object without a path to refer to: set `store_backbone=True` to "
                "save it inside the model directory, or build the module from a backbone path."
            )
        write_weights(output_path, self.head.state_dict())
        self.save_config(output_path)
        if self.store_backbone:
            save_backbone(self.backbone, self.tokenizer, os.path.join(output_path, BACKBONE_FOLDER))
            copy_code(output_path, self.code_file)
        declare_requirements(output_path, self_contained=self.store_backbone)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """Loads a saved module; ``model_kwargs["backbone"]`` points it at another copy of its backbone.

        Raises:
            FileNotFoundError: If the config or weights file is missing.
            ValueError: If a file is corrupt or the backbone does not match the saved head.
        """
        hub = dict(token=token, cache_folder=cache_folder, revision=revision, local_files_only=local_files_only)
        config, shape, weights = cls.read_head(model_name_or_path, subfolder, **hub)
        model_kwargs = _backbone_kwargs(model_kwargs, shape, token, cache_folder, local_files_only)
        where = model_kwargs.pop("backbone", None)
        if where is None and config.store_backbone:
            where = cls.load_dir_path(model_name_or_path, subfolder=os.path.join(subfolder, BACKBONE_FOLDER), **hub)
            if where is None or not os.path.isfile(os.path.join(where, "config.json")):
                raise FileNotFoundError(
                    f"{model_name_or_path} is saved with its backbone, but {BACKBONE_FOLDER}/ is missing."
                )
        if where is None and looks_like_path(config.backbone) and not os.path.exists(config.backbone):
            raise FileNotFoundError(
                f"{model_name_or_path} refers to its backbone at {config.backbone}, which does not exist: pass "
                "model_kwargs={'backbone': '/path/to/a/copy'} to load it from elsewhere."
            )
        module = cls(**{**dataclasses.asdict(config), "backbone": where or config.backbone}, model_kwargs=model_kwargs)
        module.backbone_name_or_path = config.backbone
        if where is not None:  # loaded from another copy: the recorded backbone stays the one a save refers to
            module.backbone_revision = shape.revision
        shape.check(module.backbone_shape, where or config.backbone)
        module.load_trainable_state(weights)
        return module

    @classmethod
    def load_config(
        cls, model_name_or_path: str, subfolder: str = "", config_filename: str | None = None, **hub: Any
    ) -> dict[str, Any]:
        """Sentence-transformers' ``load_config`` (``{}`` when absent; saved names renamed by
        ``config_key_renames``), naming the file when it is not a JSON object.

        Raises:
            ValueError: If the file is not valid JSON or not a JSON object.
        """
        where = os.path.join(model_name_or_path, subfolder, config_filename or cls.config_file_name)
        try:
            config = super().load_config(model_name_or_path, subfolder, config_filename, **hub)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{where} is not valid JSON ({error}): the model directory is damaged.") from None
        except TypeError:  # a number, boolean or null, which sentence-transformers' key renames cannot look into
            config = None
        if not isinstance(config, dict):
            found = "number, boolean or null" if config is None else type(config).__name__
            raise ValueError(f"{where} must hold a JSON object, found a {found}: it is damaged.")
        return config

    @classmethod
    def read_head(
        cls, model_name_or_path: str, subfolder: str = "", **hub: Any
    ) -> tuple[LLM2VecGenConfig, BackboneShape, dict[str, torch.Tensor]]:
        """The saved settings, recorded backbone facts and trainable weights of a saved model, checkpoint or hub id:
        the one reader behind :meth:`load`, :meth:`load_head` (trainer resume and ``TrainConfig.init_from``).

        Raises:
            FileNotFoundError: If the config or weights file is missing.
            ValueError: If a file is corrupt.
        """
        saved = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        if not saved:
            raise FileNotFoundError(f"{model_name_or_path} has no {CONFIG_NAME}: it is not an LLM2Vec-Gen model.")
        config, shape = LLM2VecGenConfig.from_saved(saved, f"{model_name_or_path}/{CONFIG_NAME}")
        weights_path = cls.load_file_path(model_name_or_path, WEIGHTS_NAME, subfolder=subfolder, **hub)
        if weights_path is None:
            raise FileNotFoundError(f"{model_name_or_path} has no {WEIGHTS_NAME} with the LLM2Vec-Gen weights.")
        return config, shape, read_weights(weights_path)

    def load_head(self, path: str, resize_tokens: bool = False, fresh_alignment: bool = False) -> None:
        """Copies the head (compression tokens, R, A) of a saved model or training checkpoint into this module; the
        backbone stays as loaded. Used to resume (:class:`~st_llm2vec_gen.LLM2VecGenTrainer`) and to start a run
        from a saved head (``TrainConfig.init_from``).

        Args:
            path: A saved model, checkpoint or hub id.
            resize_tokens: Accept a head saved with another number of compression tokens: its last
                ``min(N_saved, N)`` tokens become this module's last ones; any tokens before them keep this module's
                fresh initial values. R and A are shared by all tokens and load as they are.
            fresh_alignment: Keep this module's fresh A (e.g. for a teacher of another width): only the tokens and
                R are read.

        Raises:
            FileNotFoundError: If ``path`` holds no LLM2Vec-Gen head.
            ValueError: If the head was trained on another backbone or with other settings (token count unless
                ``resize_tokens``, dimension).
        """
        _, shape, weights = self.read_head(path, module_folder(path))
        shape.check(self.backbone_shape, self.backbone_name_or_path)
        saved = weights.get("compression_tokens")
        if resize_tokens and saved is not None and saved.ndim == 2 and len(saved) != self.num_tokens:
            keep = min(len(saved), self.num_tokens)
            tokens = self.compression_tokens.detach().clone()  # (N, H): fresh values for the tokens not saved
            tokens[-keep:] = saved[-keep:].to(tokens.dtype)
            weights = {**weights, "compression_tokens": tokens}
        if fresh_alignment:
            own = self.trainable_state_dict()
            weights = {**weights, **{k: v.detach().clone() for k, v in own.items() if k.startswith("alignment.")}}
        self.load_trainable_state(weights)

    def load_trainable_state(self, weights: dict[str, torch.Tensor]) -> None:
        """Copies saved trainable weights into the head (``load_state_dict(strict=True)``); a refused set changes
        nothing.

        Raises:
            ValueError: If a weight is missing, unexpected or has the wrong shape, naming it.
        """
        self.head.load_weights(weights)


def _backbone_kwargs(
    model_kwargs: dict[str, Any] | None,
    shape: BackboneShape,
    token: bool | str | None,
    cache_folder: str | None,
    local_files_only: bool,
) -> dict[str, Any]:
    """The backbone's loading arguments: the saved dtype (none saved: the machine's default,
    :func:`~.backbones.default_dtype`) and, for the recorded backbone, the saved hub revision, unless overridden; and
    the hub arguments of the load."""
    merged = {"dtype": shape.dtype, **(model_kwargs or {})}
    if "backbone" not in merged:  # the saved revision belongs to the recorded backbone, not to a replacement
        merged.setdefault("revision", shape.revision)
    merged = {k: v for k, v in merged.items() if v is not None}
    for key, value in (("token", token), ("cache_dir", cache_folder), ("local_files_only", local_files_only)):
        if value:
            merged.setdefault(key, value)
    return merged
