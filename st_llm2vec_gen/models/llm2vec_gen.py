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
from .config import EMBEDDED_BACKBONE, BackboneShape, LLM2VecGenConfig
from .decoding import DecodingMixin
from .head import init_head
from .inputs import tokenize_responses, tokenize_texts, validate_texts
from .locations import looks_like_path
from .saved_format import (
    BACKBONE_FOLDER,
    CONFIG_NAME,
    WEIGHTS_NAME,
    copy_code,
    declare_requirements,
    module_folder,
    read_saved_json,
    read_weights,
    save_backbone,
    write_head,
)

logger = logging.getLogger(__name__)


class LLM2VecGen(DecodingMixin, InputModule):
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

    config_file_name = CONFIG_NAME
    config_keys = [  # the saved settings (``LLM2VecGenConfig``, its backbone under its saved name), as ST modules do
        "backbone_name_or_path", "num_tokens", "num_encoded_tokens", "embedding_dim", "max_seq_length",
        "store_backbone", "trained_with",
    ]  # fmt: skip
    config_key_renames: dict[str, str] = {}  # saved name -> current name; no key was renamed since the first format

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
        LLM2VecGenConfig(  # validates the settings before any backbone is loaded
            num_tokens=num_tokens,
            num_encoded_tokens=num_encoded_tokens,
            embedding_dim=embedding_dim,
            max_seq_length=max_seq_length,
            store_backbone=store_backbone,
            trained_with=trained_with,
        )
        self.trained_with = trained_with
        self.prefix_cache = True  # training: reuse the text's keys/values instead of backpropagating through them
        self.backbone_revision = (model_kwargs or {}).get("revision") if isinstance(backbone, str) else None
        given = {k for k, v in (model_kwargs or {}).items() if v is not None}
        # no dtype given: the machine's default (bf16 on CPUs fast at it), a runtime choice a save does not record
        self.dtype_chosen_here = isinstance(backbone, str) and not {"dtype", "torch_dtype"} & given
        if isinstance(backbone, str):
            expanded = os.path.expanduser(backbone)
            local = os.path.exists(expanded)  # a local path is recorded absolute, to load from anywhere
            self.backbone_name_or_path = os.path.abspath(expanded) if local else backbone
            backbone, loaded_tokenizer = load_backbone(self.backbone_name_or_path, model_kwargs)
            tokenizer = tokenizer or loaded_tokenizer
        else:
            if tokenizer is None:
                raise ValueError("Pass the backbone's `tokenizer` together with a backbone model object.")
            self.backbone_name_or_path = getattr(backbone, "name_or_path", "") or ""
            backbone = freeze(backbone)
        self.backbone = backbone
        self.tokenizer = tokenizer
        if self.tokenizer.pad_token_id is None:  # e.g. Llama 3: padding positions are masked, any id will do
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.truncation_side = "right"
        self.num_tokens = num_tokens
        self.num_encoded_tokens = num_encoded_tokens or num_tokens
        self.max_seq_length = max_seq_length
        self.store_backbone = store_backbone
        hidden = self.hidden_size
        self.embedding_dim = int(embedding_dim or hidden)
        self.compression_tokens, self.reconstruction, self.alignment = init_head(
            backbone, num_tokens, self.embedding_dim, seed
        )  # (N, H), Linear(H, H), Linear(H, D)

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
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= self.num_tokens:
            raise ValueError(
                f"max_seq_length must be an integer above num_tokens={self.num_tokens} (the compression tokens need "
                f"room after the text), got {value!r}"
            )
        self._max_seq_length = value

    @property
    def config(self) -> LLM2VecGenConfig:
        """The module's settings, as saved and as its constructor takes them."""
        return LLM2VecGenConfig(
            backbone=self.backbone_name_or_path,
            num_tokens=self.num_tokens,
            num_encoded_tokens=self.num_encoded_tokens,
            embedding_dim=self.embedding_dim,
            max_seq_length=self.max_seq_length,
            store_backbone=self.store_backbone,
            trained_with=self.trained_with,
        )

    @property
    def backbone_shape(self) -> BackboneShape:
        """The backbone facts a saved head records: hidden size, vocabulary size, weight dtype and hub revision.

        A dtype picked for this machine (none was given) is recorded as float32, so the saved model loads in each
        machine's own default format."""
        dtype = "float32" if self.dtype_chosen_here else str(self.backbone.dtype).removeprefix("torch.")
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
        """The weights that train and get saved: tokens (N, H), R (H, H) + (H,), A (D, H) + (D,)."""
        return {
            "compression_tokens": self.compression_tokens,
            "reconstruction.weight": self.reconstruction.weight,
            "reconstruction.bias": self.reconstruction.bias,
            "alignment.weight": self.alignment.weight,
            "alignment.bias": self.alignment.bias,
        }

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
    def compression_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Final-layer hidden states at the compression-token positions.

        While the compression tokens train, the text before them runs without autograd and the tokens attend to its
        cached keys and values (``prefix_cache``): same result and gradients, backward over N positions, not L.

        Args:
            input_ids: (B, L) left-padded ids whose last N positions are compression-token slots.
            attention_mask: (B, L).

        Returns:
            h: (B, K, H) in the backbone's dtype, K = ``num_encoded_tokens`` (usually N).
        """
        n = self.num_tokens
        embeds = self.backbone.get_input_embeddings()(input_ids[:, :-n])  # (B, L-N, H)
        tokens = self.compression_tokens.to(embeds.dtype).expand(input_ids.shape[0], -1, -1)  # (B, N, H)
        if self.prefix_cache and torch.is_grad_enabled() and self.compression_tokens.requires_grad:
            states = states_after_fixed_prefix(self.backbone, embeds, tokens, attention_mask)  # (B, N, H)
        else:
            states = hidden_states(self.backbone, attention_mask, inputs_embeds=torch.cat([embeds, tokens], dim=1))
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

    # ----------------------------------------------------------------------------------------------------------------
    # Save / load
    def get_config_dict(self) -> dict[str, Any]:
        """The saved configuration (the ``config_keys`` as ``LLM2VecGenConfig.to_saved`` writes them), with the
        backbone's shape for mismatch checks on load."""
        shape = {k: v for k, v in vars(self.backbone_shape).items() if v is not None}
        return {**self.config.to_saved(), **shape}

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """Saves the trainable weights (safetensors), the config and, with ``store_backbone``, backbone and code."""
        if not self.store_backbone and not self.backbone_name_or_path:
            raise ValueError(
                "The backbone was passed as an object without a path to refer to: set `store_backbone=True` to "
                "save it inside the model directory, or build the module from a backbone path."
            )
        write_head(output_path, self.config, self.backbone_shape, self.trainable_state_dict())
        if self.store_backbone:
            save_backbone(self.backbone, self.tokenizer, os.path.join(output_path, BACKBONE_FOLDER))
            copy_code(output_path, __file__)
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
    ) -> LLM2VecGen:
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
        """Reads the module's saved config (``{}`` when absent), naming the file when it is not a JSON object;
        renamed keys (``config_key_renames``) get their current names.

        Raises:
            ValueError: If the file is not valid JSON or not a JSON object.
        """
        path = cls.load_file_path(model_name_or_path, config_filename or CONFIG_NAME, subfolder=subfolder, **hub)
        config = {} if path is None else read_saved_json(path)
        for old, new in cls.config_key_renames.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
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
        saved = cls.load_config(model_name_or_path, subfolder=subfolder, config_filename=CONFIG_NAME, **hub)
        if not saved:
            raise FileNotFoundError(f"{model_name_or_path} has no {CONFIG_NAME}: it is not an LLM2Vec-Gen model.")
        config, shape = LLM2VecGenConfig.from_saved(saved, f"{model_name_or_path}/{CONFIG_NAME}")
        weights_path = cls.load_file_path(model_name_or_path, WEIGHTS_NAME, subfolder=subfolder, **hub)
        if weights_path is None:
            raise FileNotFoundError(f"{model_name_or_path} has no {WEIGHTS_NAME} with the LLM2Vec-Gen weights.")
        return config, shape, read_weights(weights_path)

    def load_head(self, path: str) -> None:
        """Copies the head (compression tokens, R, A) of a saved model or training checkpoint into this module; the
        backbone stays as loaded. Used to resume (:class:`~st_llm2vec_gen.LLM2VecGenTrainer`) and to start a run
        from a saved head (``TrainConfig.init_from``).

        Raises:
            FileNotFoundError: If ``path`` holds no LLM2Vec-Gen head.
            ValueError: If the head was trained on another backbone or with other settings (token count, dimension).
        """
        _, shape, weights = self.read_head(path, module_folder(path))
        shape.check(self.backbone_shape, self.backbone_name_or_path)
        self.load_trainable_state(weights)

    def load_trainable_state(self, weights: dict[str, torch.Tensor]) -> None:
        """Copies saved trainable weights in, checking names and shapes.

        Raises:
            ValueError: If a weight is missing, unexpected or has the wrong shape.
        """
        own = self.trainable_state_dict()
        if set(weights) != set(own):
            raise ValueError(
                f"LLM2Vec-Gen weights mismatch: missing {sorted(set(own) - set(weights))}, "
                f"unexpected {sorted(set(weights) - set(own))}"
            )
        for name, param in own.items():
            if weights[name].shape != param.shape:
                raise ValueError(
                    f"LLM2Vec-Gen weight {name!r} has shape {tuple(weights[name].shape)}, "
                    f"expected {tuple(param.shape)} for this backbone and config."
                )
        with torch.no_grad():
            for name, param in own.items():
                param.copy_(weights[name])


_CONTRACT = ("preprocess_responses", "compression_states", "reconstruction_loss", "trainable_state_dict", "load_head")


def is_llm2vec_gen(module: Any) -> bool:
    """Whether ``module`` is an LLM2Vec-Gen module: this package's class, or the copy of it that a self-contained
    saved model loads from its own code (another class object with the same name and methods). The one check used
    by the losses, the trainer and the quantisation."""
    if isinstance(module, LLM2VecGen):
        return True
    return type(module).__name__ == LLM2VecGen.__name__ and all(callable(getattr(module, m, None)) for m in _CONTRACT)


def _backbone_kwargs(
    model_kwargs: dict[str, Any] | None,
    shape: BackboneShape,
    token: bool | str | None,
    cache_folder: str | None,
    local_files_only: bool,
) -> dict[str, Any]:
    """The backbone's loading arguments: the saved dtype unless it is float32 (then the machine's default:
    :func:`~.backbones.default_dtype`) and, for the recorded backbone, the saved hub revision unless overridden, and
    the hub arguments of the load."""
    saved_dtype = shape.dtype if shape.dtype not in (None, "float32") else None
    merged = {"dtype": saved_dtype, **(model_kwargs or {})}
    if "backbone" not in merged:  # the saved revision belongs to the recorded backbone, not to a replacement
        merged.setdefault("revision", shape.revision)
    merged = {k: v for k, v in merged.items() if v is not None}
    for key, value in (("token", token), ("cache_dir", cache_folder), ("local_files_only", local_files_only)):
        if value:
            merged.setdefault(key, value)
    return merged
