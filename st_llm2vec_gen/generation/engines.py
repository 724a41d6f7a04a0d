"""Generation engines: the frozen LLM answering queries, behind one interface.

Every engine builds the same prompts (:func:`chat_prompts`: one user turn in the backbone's chat template, thinking
disabled, queries cut before templating) and returns one :class:`Generation` per query: the answer text and whether it
was cut at ``max_new_tokens``. :class:`TransformersEngine` runs the backbone with transformers (left-padded batches,
KV cache); :class:`VLLMEngine` hands the same token ids to vLLM for large corpora. Decoding is greedy by default;
:class:`GenerationSettings` also offers seeded sampling and the model's own generation config.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

# The fields of a model's own decoding that are recorded next to the responses it generated.
_MODEL_DECODING_FIELDS = ("do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "num_beams")


@dataclass
class GenerationSettings:
    """How responses are generated.

    Attributes:
        max_new_tokens: Maximum tokens per response; a response that reaches it is marked truncated.
        batch_size: Queries per generation batch.
        do_sample: Sample instead of greedy decoding.
        temperature: Sampling temperature (with ``do_sample``).
        top_p: Nucleus sampling threshold (with ``do_sample``).
        seed: Seed for sampling; :func:`~st_llm2vec_gen.generation.responses.generate_responses` seeds each batch with
            ``seed + its first query index``.
        max_query_length: Queries longer than this (in tokens, before the chat template) are cut at the end.
        use_model_generation_config: Decode as the model's own generation config says (its sampling, temperature,
            top-p/top-k, repetition penalty), as the published runs did; ``do_sample``, ``temperature`` and
            ``top_p`` are then unused. The model's values are recorded next to the responses.

    Raises:
        ValueError: For a non-positive size, or ``do_sample`` together with ``use_model_generation_config``.
    """

    max_new_tokens: int = 256
    batch_size: int = 8
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0
    max_query_length: int = 512
    use_model_generation_config: bool = False

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size", "max_query_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.do_sample and self.use_model_generation_config:
            raise ValueError("do_sample and use_model_generation_config exclude each other: the model's config decides")


@dataclass(frozen=True)
class Generation:
    """One answer.

    Attributes:
        text: The answer, stripped of special tokens and surrounding white space.
        truncated: True if the answer was cut at ``max_new_tokens`` instead of ending with an end token.
    """

    text: str
    truncated: bool


@runtime_checkable
class Engine(Protocol):
    """Answers queries with a frozen LLM; ``name`` is recorded as the generator next to the responses."""

    name: str

    def answer(self, queries: list[str], settings: GenerationSettings) -> list[Generation]:
        """One generation per query, in order."""
        ...

    def model_decoding(self) -> dict[str, Any]:
        """The model's own decoding parameters, used with ``settings.use_model_generation_config``."""
        ...


def chat_prompts(
    tokenizer: PreTrainedTokenizerBase, queries: list[str], max_query_length: int | None = None
) -> list[str]:
    """Each query as a single user turn in the tokenizer's chat template, ready for the assistant's answer.

    A query longer than ``max_query_length`` tokens is cut at its end *before* templating, so the assistant header
    that asks for the answer is never cut away.

    Raises:
        ValueError: If the tokenizer has no chat template.
    """
    if not tokenizer.chat_template:
        raise ValueError("The backbone's tokenizer has no chat template: generation needs an instruction model.")
    if max_query_length:
        queries = [_cut(tokenizer, query, max_query_length) for query in queries]
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": query}], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        for query in queries
    ]


def _cut(tokenizer: PreTrainedTokenizerBase, text: str, max_tokens: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_tokens else tokenizer.decode(ids[:max_tokens])


class TransformersEngine:
    """The backbone's own ``generate``: left-padded batches of ``settings.batch_size`` queries with KV cache.

    Args:
        backbone: The frozen causal LM, on the device to generate on.
        tokenizer: Its tokenizer, with a chat template. A tokenizer without a pad token gets its EOS as pad
            (padded positions are masked).
    """

    def __init__(self, backbone: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.backbone = backbone
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None:  # e.g. Llama 3
            tokenizer.pad_token = tokenizer.eos_token
        # recorded with the responses: greedy answers in another number format are other answers
        dtype = str(backbone.dtype).removeprefix("torch.")
        self.name = Path(backbone.name_or_path).name + ("" if dtype == "float32" else f"@{dtype}")

    @classmethod
    def from_pretrained(cls, backbone: str, dtype: str | None = None, device: str | None = None) -> TransformersEngine:
        """Loads a backbone (hub id, local directory, ``.gguf`` file or the embedded one) onto ``device``.

        ``device`` defaults to CUDA when available, else the CPU. ``dtype`` defaults to float32, not to the machine's
        encoding format: in bf16 a greedy answer changes with the queries batched beside it (21 of 32 corpus queries
        at batch 32, measured), in float32 none did; ask for ``"bfloat16"`` where throughput matters more.
        """
        from ..models.backbones import load_backbone

        model, tokenizer = load_backbone(backbone, {"dtype": dtype or "float32"})
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return cls(model, tokenizer)

    def model_decoding(self) -> dict[str, Any]:
        """The backbone's generation config, reduced to what decides the tokens (sampling fields only if it samples)."""
        return _decoding_fields(self.backbone.generation_config)

    def generation_config(self, settings: GenerationSettings) -> GenerationConfig:
        """The transformers generation config for ``settings``: all of the model's end ids, KV cache, pad id."""
        if settings.use_model_generation_config:
            config = copy.deepcopy(self.backbone.generation_config)
        else:
            config = GenerationConfig(
                do_sample=settings.do_sample,
                temperature=settings.temperature if settings.do_sample else None,
                top_p=settings.top_p if settings.do_sample else None,
            )
        eos = self.backbone.generation_config.eos_token_id
        config.eos_token_id = eos if eos is not None else self.tokenizer.eos_token_id
        config.max_new_tokens = settings.max_new_tokens
        config.max_length = None
        config.use_cache = True
        config.pad_token_id = self.tokenizer.pad_token_id
        return config

    @torch.inference_mode()
    def answer(self, queries: list[str], settings: GenerationSettings) -> list[Generation]:
        """One generation per query, in order; sampling (if any) is seeded once with ``settings.seed``."""
        config = self.generation_config(settings)
        if config.do_sample:
            torch.manual_seed(settings.seed)
        size = settings.batch_size
        return [
            generation
            for start in range(0, len(queries), size)
            for generation in self._batch(queries[start : start + size], settings.max_query_length, config)
        ]

    def _batch(self, queries: list[str], max_query_length: int, config: GenerationConfig) -> list[Generation]:
        encoded = self.tokenizer(
            chat_prompts(self.tokenizer, queries, max_query_length),
            add_special_tokens=False,  # the chat template carries its own special tokens
            padding=True,
            padding_side="left",
            return_tensors="pt",
        ).to(self.backbone.device)
        ids = self.backbone.generate(**encoded, generation_config=config)  # (B, prompt + new)
        new = ids[:, encoded["input_ids"].shape[1] :]  # (B, new)
        eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        ended = torch.isin(new, torch.tensor(eos, device=new.device)).any(dim=1)  # (B,): stopped at an end token
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Generation(text.strip(), not stop) for text, stop in zip(texts, ended.tolist())]


class VLLMEngine:
    """vLLM as the generation engine (``pip install vllm``, a GPU it supports).

    Prompts are built and tokenized here exactly as for :class:`TransformersEngine` (the chat template with thinking
    disabled, then ids without extra special tokens) and passed to vLLM as token ids, so both engines see the same
    input. Greedy unless ``settings.do_sample`` (sampling seeded with ``settings.seed``), or the model's own
    defaults with ``settings.use_model_generation_config``.

    Args:
        model: A hub id or local directory that vLLM can load.
        **llm_kwargs: Passed to ``vllm.LLM`` (``dtype``, ``tensor_parallel_size``, ``gpu_memory_utilization``, ...).
    """

    def __init__(self, model: str, **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError("The vllm engine needs `pip install vllm` (and a GPU it supports).") from error
        self.llm = LLM(model=model, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.name = f"vllm:{Path(model).name}"

    def model_decoding(self) -> dict[str, Any]:
        """vLLM's defaults from the model's generation config (greedy is temperature 0 in vLLM)."""
        params = self.llm.get_default_sampling_params()
        return {k: getattr(params, k) for k in _MODEL_DECODING_FIELDS if getattr(params, k, None) is not None}

    def sampling_params(self, settings: GenerationSettings) -> Any:
        """The ``vllm.SamplingParams`` for ``settings``."""
        from vllm import SamplingParams

        if settings.use_model_generation_config:
            params = self.llm.get_default_sampling_params()
            params.max_tokens = settings.max_new_tokens
            params.seed = settings.seed
            return params
        return SamplingParams(**vllm_sampling(settings))

    def answer(self, queries: list[str], settings: GenerationSettings) -> list[Generation]:
        """One generation per query, in order; ``truncated`` is vLLM's ``finish_reason == "length"``."""
        texts = chat_prompts(self.tokenizer, queries, settings.max_query_length)
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]  # the template carries its own
        prompts = [{"prompt_token_ids": row} for row in ids]
        outputs = self.llm.generate(prompts, self.sampling_params(settings), use_tqdm=False)
        return [Generation(out.outputs[0].text.strip(), out.outputs[0].finish_reason == "length") for out in outputs]


def vllm_sampling(settings: GenerationSettings) -> dict[str, Any]:
    """vLLM's sampling parameters for ``settings`` (greedy is temperature 0), as ``SamplingParams`` keywords."""
    return {
        "max_tokens": settings.max_new_tokens,
        "temperature": settings.temperature if settings.do_sample else 0.0,
        "top_p": settings.top_p if settings.do_sample else 1.0,
        "seed": settings.seed if settings.do_sample else None,
    }


def _decoding_fields(config: GenerationConfig) -> dict[str, Any]:
    values = {k: getattr(config, k, None) for k in _MODEL_DECODING_FIELDS}
    if not values["do_sample"]:
        values = {k: v for k, v in values.items() if k in ("do_sample", "repetition_penalty", "num_beams")}
    return {k: v for k, v in values.items() if v is not None}
