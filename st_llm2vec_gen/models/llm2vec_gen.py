"""The LLM2Vec-Gen sentence-transformers module: compression tokens on a frozen decoder LLM.

For a text, N trainable compression-token vectors are appended after ``prompt + text``; the frozen backbone runs over
the sequence and its final hidden states at the N positions, ``h`` (B, N, H), give the soft prompt ``R(h)`` (B, N, H)
and the embedding ``mean_n A(R(h))`` (B, D). The backbone is never modified, so the same weights keep serving
generation, and :meth:`LLM2VecGen.decode` turns the soft prompt back into text with it.

This file and its siblings ``backbones.py``, ``decoding.py`` and ``inputs.py`` are copied into self-contained saved
models, so they import only torch, transformers, safetensors, sentence-transformers and each other.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sentence_transformers.base.modules import InputModule
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .backbones import EMBEDDED_BACKBONE, freeze, load_backbone
from .decoding import DecodingMixin
from .inputs import validate_texts

logger = logging.getLogger(__name__)

CONFIG_NAME = "llm2vec_gen_config.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_FOLDER = "backbone"
CODE_NAME = "st_llm2vec_gen.py"  # the saved class reference is "st_llm2vec_gen.LLM2VecGen"
CODE_SIBLINGS = ("backbones.py", "decoding.py", "inputs.py")  # its relative imports
PACKAGE = "st-llm2vec-gen"


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

    Example::

        from sentence_transformers import SentenceTransformer
        from st_llm2vec_gen import DEFAULT_MODEL

        model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
        model.encode_query(["Where do polar bears live?"])
        model[0].decode(["Where do polar bears live?"])
    """

    __module__ = "st_llm2vec_gen"  # saved as "st_llm2vec_gen.LLM2VecGen" in modules.json: keep it stable
    config_keys = [
        "backbone_name_or_path", "num_tokens", "num_encoded_tokens", "embedding_dim", "max_seq_length", "store_backbone"
    ]  # fmt: skip

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
    ) -> None:
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
        if max_seq_length <= num_tokens:
            raise ValueError(f"max_seq_length ({max_seq_length}) must exceed num_tokens ({num_tokens})")
        if num_encoded_tokens is not None and not 1 <= num_encoded_tokens <= num_tokens:
            raise ValueError(f"num_encoded_tokens must be in [1, num_tokens={num_tokens}], got {num_encoded_tokens}")
        if isinstance(backbone, str):
            local = os.path.exists(backbone)  # a local path is recorded absolute, to load from anywhere
            self.backbone_name_or_path = os.path.abspath(backbone) if local else backbone
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
        self.max_seq_length = int(max_seq_length)
        self.store_backbone = store_backbone
        hidden = self.hidden_size
        self.embedding_dim = int(embedding_dim or hidden)
        self.compression_tokens, self.reconstruction, self.alignment = _init_head(
            backbone.get_input_embeddings().weight, num_tokens, self.embedding_dim, seed
        )  # (N, H), Linear(H, H), Linear(H, D)
        self._calibrate_head()

    @torch.no_grad()
    def _calibrate_head(self) -> None:
        """Scales R so that the soft prompt R(h) starts at the norm of the backbone's input embeddings, and A by the
        inverse, so that A(R(h)) = h at first (for D = H).

        Final hidden states are an order of magnitude larger than input embeddings (SmolLM2: ~48 vs ~3.2); fed back
        unscaled, the soft prompt is out of distribution for the frozen LLM and R needs thousands of steps to shrink.
        One forward pass over the N tokens alone measures the ratio.
        """
        embeds = self.backbone.get_input_embeddings().weight
        tokens = self.compression_tokens.to(embeds.device, embeds.dtype)[None]  # (1, N, H)
        states = self.backbone.base_model(inputs_embeds=tokens, use_cache=False).last_hidden_state  # (1, N, H)
        scale = (embeds.float().norm(dim=-1).mean() / states.float().norm(dim=-1).mean().clamp(min=1e-6)).item()
        self.reconstruction.weight.mul_(scale)
        self.alignment.weight.div_(scale)

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
        max_length = kwargs.get("max_length") or self.max_seq_length
        if task == "response":
            return self.preprocess_responses(texts, max_length)
        if prompt:
            sep = "" if prompt[-1].isspace() else " "
            texts = [prompt + sep + text for text in texts]
        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=max_length - self.num_tokens,
            padding_side="left",
            return_tensors="pt",
        )
        batch = encoded["input_ids"].shape[0]
        slots = torch.full((batch, self.num_tokens), self.tokenizer.pad_token_id, dtype=torch.long)
        return {
            "input_ids": torch.cat([encoded["input_ids"], slots], dim=1),  # (B, L)
            "attention_mask": torch.cat([encoded["attention_mask"], torch.ones_like(slots)], dim=1),  # (B, L)
        }

    def preprocess_responses(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Tokenizes responses as decoder targets: no special tokens but the backbone's EOS at the end, right-padded.

        Returns:
            ``input_ids`` and ``attention_mask`` (B, T), T <= ``max_length``; a cut response keeps its EOS.
        """
        limit = (max_length or self.max_seq_length) - 1
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=limit)["input_ids"]
        eos = self.eos_token_id
        rows = {"input_ids": [row + [eos] for row in ids]}
        padded = self.tokenizer.pad(rows, padding_side="right", return_tensors="pt")
        return {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}  # (B, T)

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

        Args:
            input_ids: (B, L) left-padded ids whose last N positions are compression-token slots.
            attention_mask: (B, L).

        Returns:
            h: (B, K, H) in the backbone's dtype, K = ``num_encoded_tokens`` (usually N).
        """
        n = self.num_tokens
        embeds = self.backbone.get_input_embeddings()(input_ids[:, :-n])  # (B, L-N, H)
        tokens = self.compression_tokens.to(embeds.dtype).expand(input_ids.shape[0], -1, -1)  # (B, N, H)
        embeds = torch.cat([embeds, tokens], dim=1)  # (B, L, H)
        # Positions count real tokens only, so left padding does not shift them: batch-invariant embeddings.
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, L)
        out = self.backbone.base_model(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        )
        return out.last_hidden_state[:, -self.num_encoded_tokens :]  # (B, K, H)

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        """Adds ``compression_states`` h (B, N, H), ``soft_prompt`` R(h) (B, N, H) and ``sentence_embedding`` (B, D)."""
        states = self.compression_states(features["input_ids"], features["attention_mask"])  # (B, N, H)
        soft_prompt = self.reconstruction(states.to(self.reconstruction.weight.dtype))  # (B, N, H)
        features["compression_states"] = states
        features["soft_prompt"] = soft_prompt
        features["sentence_embedding"] = self.alignment(soft_prompt).mean(dim=1)  # (B, D)
        return features

    # ----------------------------------------------------------------------------------------------------------------
    # Save / load
    def get_config_dict(self) -> dict[str, Any]:
        """The saved configuration, with the backbone's shape for mismatch checks on load."""
        config = super().get_config_dict()
        dtype = str(self.backbone.dtype).removeprefix("torch.")
        config.update(hidden_size=self.hidden_size, vocab_size=self.vocab_size, dtype=dtype)
        return config

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """Saves the trainable weights (safetensors), the config and, with ``store_backbone``, backbone and code."""
        if not self.store_backbone and not self.backbone_name_or_path:
            raise ValueError(
                "The backbone was passed as an object without a path to refer to: set `store_backbone=True` to "
                "save it inside the model directory, or build the module from a backbone path."
            )
        os.makedirs(output_path, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.trainable_state_dict().items()}
        save_file(weights, os.path.join(output_path, WEIGHTS_NAME), metadata={"format": "pt"})
        self.save_config(output_path, CONFIG_NAME)
        if self.store_backbone:
            self.backbone.save_pretrained(os.path.join(output_path, BACKBONE_FOLDER))
            self.tokenizer.save_pretrained(os.path.join(output_path, BACKBONE_FOLDER))
            here = Path(__file__).parent
            shutil.copyfile(here / "llm2vec_gen.py", os.path.join(output_path, CODE_NAME))
            for sibling in CODE_SIBLINGS:
                shutil.copyfile(here / sibling, os.path.join(output_path, sibling))
        _declare_requirements(output_path, self_contained=self.store_backbone)

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
            ValueError: If the weights file is corrupt or the backbone does not match the saved head.
        """
        hub = dict(token=token, cache_folder=cache_folder, revision=revision, local_files_only=local_files_only)
        config = cls.load_config(model_name_or_path, subfolder=subfolder, config_filename=CONFIG_NAME, **hub)
        if not config:
            raise FileNotFoundError(f"{model_name_or_path} has no {CONFIG_NAME}: it is not an LLM2Vec-Gen model.")
        weights_path = cls.load_file_path(model_name_or_path, WEIGHTS_NAME, subfolder=subfolder, **hub)
        if weights_path is None:
            raise FileNotFoundError(f"{model_name_or_path} has no {WEIGHTS_NAME} with the LLM2Vec-Gen weights.")
        weights = _read_weights(weights_path)
        model_kwargs = {"dtype": config.get("dtype"), **(model_kwargs or {})}  # saved dtype unless overridden
        model_kwargs = {k: v for k, v in model_kwargs.items() if v is not None}
        for key, value in (("token", token), ("cache_dir", cache_folder), ("local_files_only", local_files_only)):
            if value:
                model_kwargs.setdefault(key, value)
        backbone = model_kwargs.pop("backbone", None)
        if backbone is None and config.get("store_backbone"):
            backbone = cls.load_dir_path(model_name_or_path, subfolder=os.path.join(subfolder, BACKBONE_FOLDER), **hub)
            if backbone is None or not os.path.isfile(os.path.join(backbone, "config.json")):
                raise FileNotFoundError(
                    f"{model_name_or_path} is saved with its backbone, but {BACKBONE_FOLDER}/ is missing."
                )
        module = cls(
            backbone or config["backbone_name_or_path"],
            num_tokens=config["num_tokens"],
            num_encoded_tokens=config.get("num_encoded_tokens"),
            embedding_dim=config["embedding_dim"],
            max_seq_length=config["max_seq_length"],
            store_backbone=config.get("store_backbone", False),
            model_kwargs=model_kwargs,
        )
        module.backbone_name_or_path = config["backbone_name_or_path"]
        module._check_backbone(config, backbone or config["backbone_name_or_path"])
        module.load_trainable_state(weights)
        return module

    def _check_backbone(self, config: dict[str, Any], where: str) -> None:
        expected = (config.get("hidden_size"), config.get("vocab_size"))
        found = (self.hidden_size, self.vocab_size)
        if any(e is not None and e != f for e, f in zip(expected, found)):  # None: not recorded (e.g. converted)
            raise ValueError(
                f"The saved LLM2Vec-Gen head expects a backbone with hidden size {expected[0]} and vocabulary "
                f"{expected[1]}, but the backbone {where!r} has hidden size {found[0]} and vocabulary {found[1]}."
            )

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


def _init_head(
    embedding_matrix: torch.Tensor, num_tokens: int, embedding_dim: int, seed: int
) -> tuple[nn.Parameter, nn.Linear, nn.Linear]:
    """Initial trainable weights, deterministic for a seed.

    Tokens are drawn around the mean of the backbone's embedding rows with their per-dimension spread; R starts as
    the identity; A is the identity when D == H (the embedding is then the mean compression state) and random else.
    :meth:`LLM2VecGen._calibrate_head` then rescales R and A to the backbone.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = embedding_matrix.detach().float()  # (V, H)
    hidden = rows.shape[1]
    noise = torch.randn(num_tokens, hidden, generator=generator)  # (N, H)
    tokens = nn.Parameter(rows.mean(0) + noise * rows.std(0))  # (N, H)
    reconstruction = nn.Linear(hidden, hidden)
    alignment = nn.Linear(hidden, embedding_dim)
    with torch.no_grad():
        reconstruction.weight.copy_(torch.eye(hidden))
        reconstruction.bias.zero_()
        if embedding_dim == hidden:
            alignment.weight.copy_(torch.eye(hidden))
        else:
            bound = hidden**-0.5
            alignment.weight.copy_(torch.empty(embedding_dim, hidden).uniform_(-bound, bound, generator=generator))
        alignment.bias.zero_()
    return tokens, reconstruction, alignment


def _read_weights(path: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        message = f"Cannot read the LLM2Vec-Gen weights file {path}: it is corrupt or truncated ({error})."
        raise ValueError(message) from None


def _declare_requirements(output_path: str, self_contained: bool) -> None:
    """Records what loading needs in config_sentence_transformers.json, for ST's clean install hint."""
    path = os.path.join(output_path, "config_sentence_transformers.json")
    if not os.path.isfile(path):  # saved on its own, outside SentenceTransformer.save
        return
    config = _read_json_retrying(path)
    requirements = {"sentence-transformers": {"specifier": ">=6.2", "reason": "LLM2Vec-Gen uses the ST 6 module API."}}
    if not self_contained:
        requirements[PACKAGE] = {
            "specifier": ">=0.1",
            "reason": "The LLM2Vec-Gen module code is not stored with this model (save with store_backbone=True).",
        }
    config["requirements"] = requirements
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.replace(tmp, path)  # atomic: a concurrent reader never sees a half-written file


def _read_json_retrying(path: str, attempts: int = 20) -> dict[str, Any]:
    """Reads a JSON file that another process may be rewriting at this moment (the HF trainer can save the same
    checkpoint from several ranks): a truncated read is retried briefly instead of failing the run."""
    for attempt in range(attempts):
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except json.JSONDecodeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")
