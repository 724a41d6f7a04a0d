"""The LLM2Vec-Gen sentence-transformers module: compression tokens on a frozen decoder LLM.

For a text, N trainable compression-token vectors are appended after ``prompt + text``; the frozen backbone runs over
the sequence and its final hidden states at the N positions, ``h`` (B, N, H), give the soft prompt ``R(h)`` (B, N, H)
and the embedding ``mean_n A(R(h))`` (B, D). The backbone is never modified, so the same weights keep serving
generation, and :meth:`LLM2VecGen.decode` turns the soft prompt back into text with it.

This file and its siblings in ``models/`` are copied into self-contained saved models, so they import only torch,
transformers, safetensors, sentence-transformers and each other.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from sentence_transformers.base.modules import InputModule
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .backbone_forward import (
    checkpointing_layers,
    hidden_states,
    masked_mean,
    response_nll,
    states_after_fixed_prefix,
)
from .backbones import freeze, load_backbone
from .config import EMBEDDED_BACKBONE, SAVED_NAMES, BackboneShape, LLM2VecGenConfig
from .decoding import DecodingMixin
from .inputs import tokenize_responses, tokenize_texts, validate_texts
from .saved_format import CONFIG_NAME
from .saving import SavedHeadMixin
from .trainable_head import TrainableHead

logger = logging.getLogger(__name__)


class LLM2VecGen(SavedHeadMixin, DecodingMixin, InputModule):
    """Generative embedding module: embeds the answer a frozen decoder LLM would give to a text.

    Args:
        backbone: A hub id, local directory, ``.gguf`` file or :data:`EMBEDDED_BACKBONE`, or an already loaded
            causal LM (then ``tokenizer`` is required).
        tokenizer: The backbone's tokenizer, when ``backbone`` is a model object.
        num_tokens: Number N of compression tokens.
        num_encoded_tokens: How many of the last compression tokens form h (default: all N). Published checkpoints
            with 20 tokens of which the last 10 are encoded use 10.
        embedding_dim: Output dimension D (the teacher's); defaults to the backbone's hidden size.
        max_seq_length: Maximum tokens per input, the N compression tokens included; longer texts are cut at the end.
        store_backbone: Whether :meth:`save` writes the backbone (and this module's code) into the model directory,
            making it self-contained, or only refers to it by ``backbone``.
        model_kwargs: Passed to the backbone's ``from_pretrained`` (``dtype``, ``attn_implementation``, ...).
        seed: Seed for the initial compression tokens and alignment projection.
        trained_with: The teacher the head was trained with (recorded by ``train()``, see
            :class:`LLM2VecGenConfig`); evaluation compares with it by default.

    The settings (:class:`LLM2VecGenConfig`'s fields, the backbone's reference as ``backbone_name_or_path``) are
    attributes, held in one :class:`LLM2VecGenConfig` (:attr:`config`) and checked again when one is set. They are
    the saved ``config_keys``; the trainable weights are one :class:`TrainableHead`, :attr:`head`.

    Example::

        from sentence_transformers import SentenceTransformer
        from st_llm2vec_gen import DEFAULT_MODEL

        model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
        model.encode_query(["Where do polar bears live?"])
        model[0].decode(["Where do polar bears live?"])
    """

    # modules.json records "st_llm2vec_gen.LLM2VecGen" (the file format: keep it stable). In the package the class is
    # given that name; the copy in a self-contained model keeps its real module (transformers_modules.<dir>.
    # st_llm2vec_gen), which sentence-transformers saves under the same name (file + class) and pickle can find again
    # in a worker process (multi-process pool), as pickle checks that the named class is the very same object.
    if __name__.startswith("st_llm2vec_gen."):
        __module__ = "st_llm2vec_gen"

    code_file = __file__  # what a self-contained save copies as st_llm2vec_gen.py (the class's own file)
    config_file_name = CONFIG_NAME
    config_keys = LLM2VecGenConfig.saved_keys()  # the saved settings, read by ST's get_config_dict as attributes
    config_key_renames = {saved: name for name, saved in SAVED_NAMES.items()}  # saved name -> constructor parameter

    def __init__(
        self,
        backbone: str | PreTrainedModel = EMBEDDED_BACKBONE,
        tokenizer: PreTrainedTokenizerBase | None = None,
        num_tokens: int = 10,
        num_encoded_tokens: int | None = None,
        embedding_dim: int | None = None,
        max_seq_length: int = 512,
        store_backbone: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        trained_with: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        reference = _backbone_reference(backbone)
        self._settings = LLM2VecGenConfig(  # checks the settings before any backbone is loaded
            backbone=reference, num_tokens=num_tokens, num_encoded_tokens=num_encoded_tokens,
            embedding_dim=embedding_dim, max_seq_length=max_seq_length, store_backbone=store_backbone,
            trained_with=trained_with,
        )  # fmt: skip
        self.prefix_cache = True  # training: reuse the text's keys/values instead of backpropagating through them
        self.backbone_revision = (model_kwargs or {}).get("revision") if isinstance(backbone, str) else None
        given = {k for k, v in (model_kwargs or {}).items() if v is not None}
        # no dtype given: the machine's default (bf16 on CPUs fast at it), a runtime choice a save does not record
        self.dtype_chosen_here = isinstance(backbone, str) and not {"dtype", "torch_dtype"} & given
        if isinstance(backbone, str):
            backbone, loaded_tokenizer = load_backbone(reference, model_kwargs)
            tokenizer = tokenizer or loaded_tokenizer
            self.backbone_source = (reference, dict(model_kwargs or {}))  # to load it again
        else:
            if tokenizer is None:
                raise ValueError("Pass the backbone's `tokenizer` together with a backbone model object.")
            backbone = freeze(backbone)
        self.backbone = backbone
        self.tokenizer = tokenizer
        if self.tokenizer.pad_token_id is None:  # e.g. Llama 3: padding positions are masked, any id will do
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.truncation_side = "right"
        self._settings = dataclasses.replace(  # the defaults resolved, as saved
            self._settings, num_encoded_tokens=num_encoded_tokens or num_tokens,
            embedding_dim=int(embedding_dim or self.hidden_size),
        )  # fmt: skip
        self.head = TrainableHead.initial(backbone, num_tokens, self.embedding_dim, seed)

    # ----------------------------------------------------------------------------------------------------------------
    # Properties
    @property
    def hidden_size(self) -> int:
        """The backbone's hidden size H."""
        return self.backbone.get_input_embeddings().weight.shape[1]

    @property
    def vocab_size(self) -> int:
        """The backbone's vocabulary size (rows of its input embedding matrix)."""
        return self.backbone.get_input_embeddings().weight.shape[0]

    def get_embedding_dimension(self) -> int:
        """The embedding dimension D."""
        return self.embedding_dim

    @property
    def max_seq_length(self) -> int:
        """Maximum tokens per input, the N compression tokens included (ST's ``model.max_seq_length`` sets it)."""
        return self._settings.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= self.num_tokens:
            raise ValueError(
                f"max_seq_length must be an integer above num_tokens={self.num_tokens} (the compression tokens need "
                f"room after the text), got {value!r}"
            )
        self._settings = dataclasses.replace(self._settings, max_seq_length=value)

    @property
    def config(self) -> LLM2VecGenConfig:
        """The module's settings, as saved and as its constructor takes them (a copy: set the attributes to change
        them)."""
        return dataclasses.replace(self._settings)

    @property
    def backbone_shape(self) -> BackboneShape:
        """The backbone facts a saved head records: hidden size, vocabulary size, weight dtype and hub revision.

        A dtype picked for this machine (none was given) is recorded as ``None``, so the saved model loads in each
        machine's own default format; a given one is recorded and honoured everywhere."""
        dtype = None if self.dtype_chosen_here else str(self.backbone.dtype).removeprefix("torch.")
        return BackboneShape(
            hidden_size=self.hidden_size, vocab_size=self.vocab_size, dtype=dtype, revision=self.backbone_revision
        )

    def train(self, mode: bool = True) -> LLM2VecGen:
        """Trains the head; the frozen backbone stays in eval mode unless its layers checkpoint activations
        (transformers checkpoints only in train mode), and :func:`freeze` has zeroed its dropout for that case."""
        super().train(mode)
        self.backbone.train(mode and bool(checkpointing_layers(self.backbone)))
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights that train and get saved, by their saved names (the parameters themselves): tokens (N, H),
        R (H, H) + (H,), A (D, H) + (D,)."""
        return dict(self.head.named_parameters())

    @property
    def compression_tokens(self) -> torch.nn.Parameter:
        """The head's compression tokens (N, H)."""
        return self.head.compression_tokens

    @property
    def reconstruction(self) -> torch.nn.Linear:
        """The head's reconstruction projection R, Linear(H, H)."""
        return self.head.reconstruction

    @property
    def alignment(self) -> torch.nn.Linear:
        """The head's alignment projection A, Linear(H, D)."""
        return self.head.alignment

    # ----------------------------------------------------------------------------------------------------------------
    # Inputs
    def preprocess(
        self, inputs: Sequence[str], prompt: str | None = None, task: str | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Tokenizes ``prompt + " " + text`` left-padded, cut to leave room for the N compression tokens.

        Args:
            inputs: The texts.
            prompt: The instruction describing the answer to produce (ST's prompt), joined to each text by a space.
            task: ``"response"`` tokenizes the texts as reconstruction targets instead (see
                :meth:`preprocess_responses`); ST's trainer passes it for columns in ``router_mapping``.
            **kwargs: ``max_length`` overrides ``max_seq_length``; others are ignored.

        Returns:
            ``input_ids`` and ``attention_mask`` (B, L); the last N positions are the compression-token slots.
        """
        texts = validate_texts(inputs)
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string (the instruction before each text), got {type(prompt).__name__}")
        max_length = kwargs.get("max_length") or self.max_seq_length
        if task == "response":
            return self.preprocess_responses(texts, max_length)
        return tokenize_texts(self.tokenizer, texts, prompt, max_length, self.num_tokens)

    def preprocess_responses(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Tokenizes responses as decoder targets: no special tokens but the backbone's EOS at the end, right-padded.

        Returns:
            ``input_ids`` and ``attention_mask`` (B, T), T <= ``max_length``; a cut response keeps its EOS.
        """
        return tokenize_responses(self.tokenizer, texts, max_length or self.max_seq_length, self.eos_token_id)

    @property
    def eos_token_id(self) -> int:
        """The id that ends the backbone's answers: the tokenizer's EOS when the generation config lists it (e.g.
        Llama-3 Instruct's ``<|eot_id|>``, not ``<|end_of_text|>``), else the generation config's first."""
        ends = self.backbone.generation_config.eos_token_id
        ends = [ends] if isinstance(ends, int) else list(ends or [])
        if self.tokenizer.eos_token_id in ends or not ends:
            return self.tokenizer.eos_token_id
        return ends[0]

    # ----------------------------------------------------------------------------------------------------------------
    # Forward
    def compression_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, backbone: PreTrainedModel | None = None
    ) -> torch.Tensor:
        """Final-layer hidden states at the compression-token positions.

        While the compression tokens train, the text before them runs without autograd and the tokens attend to its
        cached keys and values (``prefix_cache``): same result and gradients, backward over N positions, not L.

        Args:
            input_ids: (B, L) left-padded ids whose last N positions are compression-token slots.
            attention_mask: (B, L).
            backbone: Another copy of the backbone to run (decoding's float32 copy); None: ``self.backbone``.

        Returns:
            h: (B, K, H) in the backbone's dtype, K = ``num_encoded_tokens`` (usually N).
        """
        n, backbone = self.num_tokens, backbone or self.backbone
        embeds = backbone.get_input_embeddings()(input_ids[:, :-n])  # (B, L-N, H)
        tokens = self.compression_tokens.to(embeds.dtype).expand(input_ids.shape[0], -1, -1)  # (B, N, H)
        if self.prefix_cache and torch.is_grad_enabled() and self.compression_tokens.requires_grad:
            states = states_after_fixed_prefix(backbone, embeds, tokens, attention_mask)  # (B, N, H)
        else:
            states = hidden_states(backbone, attention_mask, inputs_embeds=torch.cat([embeds, tokens], dim=1))
        return states[:, -self.num_encoded_tokens :]  # (B, K, H)

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        """Adds ``compression_states`` h (B, K, H), ``soft_prompt`` R(h) (B, K, H), ``token_embeddings`` A(R(h))
        (B, K, D), one vector per compression token, and ``sentence_embedding``, their mean (B, D).

        In the returned dict ``attention_mask`` is the (B, K) mask of ``token_embeddings`` (all ones), as
        sentence-transformers pairs the two for ``output_value="token_embeddings"``; ``features`` gets the other
        keys and keeps its input mask."""
        states = self.compression_states(features["input_ids"], features["attention_mask"])  # (B, K, H)
        soft_prompt = self.reconstruction(states.to(self.reconstruction.weight.dtype))  # (B, K, H)
        aligned = self.alignment(soft_prompt)  # (B, K, D)
        features["compression_states"] = states  # written into the inputs too, as ST modules do: losses reuse them
        features["soft_prompt"] = soft_prompt
        features["token_embeddings"] = aligned
        features["sentence_embedding"] = aligned.mean(dim=1)  # (B, D)
        mask = features["attention_mask"].new_ones(aligned.shape[:2])  # (B, K)
        return {**features, "attention_mask": mask}  # the inputs keep their (B, L) mask: they can be encoded again

    def text_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int | None = None
    ) -> torch.Tensor:
        """The frozen backbone's hidden states over a text itself, no compression tokens: (B, T, H); final ones, or
        those after decoder ``layer``."""
        return hidden_states(self.backbone, attention_mask, input_ids=input_ids, layer=layer)

    @torch.no_grad()
    def mean_pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Masked mean of :meth:`text_states` over real tokens, (B, T) -> (B, H) float32: the self teacher's embedding
        of responses (tokenized by :meth:`preprocess_responses`) and the mean-pooling baseline of texts."""
        return masked_mean(self.text_states(input_ids, attention_mask), attention_mask)

    def reconstruction_loss(
        self, soft_prompt: torch.Tensor, response_ids: torch.Tensor, response_mask: torch.Tensor, chunk_size: int = 1024
    ) -> torch.Tensor:
        """Mean next-token cross-entropy of the frozen backbone regenerating responses (B, T) after R(h) (B, N, H)."""
        return response_nll(self.backbone, soft_prompt, response_ids, response_mask, chunk_size)


def _backbone_reference(backbone: str | PreTrainedModel) -> str:
    """What a save records of the constructor's ``backbone``: a local path made absolute (to load from anywhere), a
    hub id or reference as given, a model object's ``name_or_path`` (``""`` when it has none)."""
    if not isinstance(backbone, str):
        return getattr(backbone, "name_or_path", "") or ""
    expanded = os.path.expanduser(backbone)
    return os.path.abspath(expanded) if os.path.exists(expanded) else backbone


HEAD_SHAPE_SETTINGS = ("num_tokens", "embedding_dim")
"""Settings that give the head's shape (N, D): read-only attributes, as changing them would not reshape the head."""


def _setting(name: str) -> property:
    """The module attribute of the setting ``name``: reads the module's :class:`LLM2VecGenConfig`; setting it
    replaces that config with a checked copy (unless it is one of :data:`HEAD_SHAPE_SETTINGS`)."""

    def get(self: LLM2VecGen) -> Any:
        return getattr(self._settings, name)

    def set(self: LLM2VecGen, value: Any) -> None:
        if name in HEAD_SHAPE_SETTINGS:
            raise AttributeError(
                f"{name} is the shape of the trained head and cannot change: build a new module with {name}={value!r} "
                "(its load_head(..., resize_tokens=True) takes the tokens of a head with another count)."
            )
        self._settings = dataclasses.replace(self._settings, **{name: value})

    return property(get, set, doc=f"The ``{name}`` setting (see :class:`LLM2VecGenConfig`).")


for _name in (f.name for f in dataclasses.fields(LLM2VecGenConfig)):  # an attribute per setting, its saved name
    if SAVED_NAMES.get(_name, _name) not in vars(LLM2VecGen):  # those defined in the class keep their own checks
        setattr(LLM2VecGen, SAVED_NAMES.get(_name, _name), _setting(_name))
del _name


_CONTRACT = ("preprocess_responses", "compression_states", "reconstruction_loss", "trainable_state_dict", "load_head")


def is_llm2vec_gen(module: Any) -> bool:
    """Whether ``module`` is an LLM2Vec-Gen module: this package's class, or the copy of it that a self-contained
    saved model loads from its own code (another class object with the same name and methods). The one check used
    by the losses, the trainer and the quantisation."""
    if isinstance(module, LLM2VecGen):
        return True
    return type(module).__name__ == LLM2VecGen.__name__ and all(callable(getattr(module, m, None)) for m in _CONTRACT)
