"""Decoding LLM2Vec-Gen embeddings back to text, and the logit lens of the compression states.

A mixin of :class:`LLM2VecGen`, kept apart because it only reads the module (backbone, tokenizer, forward). Copied
next to self-contained saved models like the module itself, so it imports only torch and transformers.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence

import torch
from transformers import GenerationConfig, PreTrainedModel

from .backbones import load_backbone
from .inputs import validate_texts

logger = logging.getLogger(__name__)


_COPYING = threading.Lock()


class DecodingMixin:
    """Text out of embeddings: :meth:`decode` generates from the soft prompt R(h), :meth:`logit_lens` reads h.

    Both read in float32. When the machine chose bf16 for the backbone (a CPU with fast bf16, no ``dtype`` given),
    encoding keeps it, but decoding and the lens run a float32 copy of the backbone, made on first use: greedy bf16
    answers change with the texts decoded beside them and so from run to run (measured on the default model: 6 of 8
    decodings differed between alone and batched in bf16, 0 of 8 in float32, and float32 batched was faster than bf16
    one text at a time). A dtype the user gave is used as given.
    """

    def reading_backbone(self) -> PreTrainedModel:
        """The backbone :meth:`decode` and :meth:`logit_lens` run: the loaded one, or its float32 copy (see above)."""
        backbone = self.backbone
        if not self.dtype_chosen_here or backbone.dtype == torch.float32:
            return backbone
        with _COPYING:
            reader = self.__dict__.get("_float32_backbone")  # not a submodule: never saved, trained or moved
            if reader is None:
                logger.info(
                    "Decoding loads a float32 copy of the bf16 backbone, so that answers do not depend on their "
                    "batch (pass model_kwargs={'dtype': 'bfloat16'} to decode in bf16 instead)"
                )
                reader = self._float32_copy()
                self.__dict__["_float32_backbone"] = reader
            if reader.device != backbone.device:
                reader.to(backbone.device)
        return reader

    def _float32_copy(self) -> PreTrainedModel:
        """The backbone loaded again in float32 from where it came (the float32 model's own answers), else, for a
        backbone given as an object, its weights upcast (bf16-rounded values, computed in float32)."""
        source = getattr(self, "backbone_source", None)
        if source is None:
            return copy.deepcopy(self.backbone).float().eval()
        path, model_kwargs = source
        return load_backbone(path, {**model_kwargs, "dtype": torch.float32})[0]

    def _run(self, texts: Sequence[str], prompt: str | None, backbone: PreTrainedModel) -> tuple[torch.Tensor, ...]:
        """The compression states h (b, K, H) and soft prompts R(h) (b, K, H) of ``texts``, through ``backbone``."""
        device = self.compression_tokens.device
        features = {k: v.to(device) for k, v in self.preprocess(texts, prompt=prompt).items()}
        states = self.compression_states(features["input_ids"], features["attention_mask"], backbone=backbone)
        return states, self.reconstruction(states.to(self.reconstruction.weight.dtype))

    @torch.inference_mode()
    def decode(
        self, texts: Sequence[str], prompt: str | None = None, max_new_tokens: int = 64, batch_size: int = 16
    ) -> list[str]:
        """Generates text from each embedding's soft prompt R(h) with the frozen backbone.

        Greedy, batched, with KV cache, stopping at the backbone's own EOS; in float32 unless a dtype was given (see
        the class), so a text decodes the same alone and in any batch.

        Args:
            texts: The texts to encode and decode.
            prompt: The instruction used when encoding, e.g. ``model.prompts["query"]``.
            max_new_tokens: Maximum generated tokens per text.
            batch_size: Texts per generation batch.

        Returns:
            One decoded string per text.
        """
        texts = validate_texts(texts)
        _check_count("batch_size", batch_size)
        _check_count("max_new_tokens", max_new_tokens, MAX_NEW_TOKENS)
        decoded: list[str] = []
        backbone = self.reading_backbone()
        for start in range(0, len(texts), batch_size):
            _, soft_prompt = self._run(texts[start : start + batch_size], prompt, backbone)  # (b, N, H)
            decoded += self.generate_from_soft_prompt(soft_prompt, max_new_tokens)
        return decoded

    def generate_from_soft_prompt(self, soft_prompt: torch.Tensor, max_new_tokens: int = 64) -> list[str]:
        """Greedy generation from soft prompts (B, N, H) alone; all have length N, so no padding is needed.

        Raises:
            ValueError: If ``soft_prompt`` is not (B, N, H) with H the backbone's hidden size, or ``max_new_tokens``
                is out of range.
        """
        _check_count("max_new_tokens", max_new_tokens, MAX_NEW_TOKENS)
        if soft_prompt.dim() != 3 or soft_prompt.shape[-1] != self.hidden_size or not soft_prompt.shape[1]:
            raise ValueError(
                f"soft_prompt must have shape (batch, tokens, {self.hidden_size}) like forward()'s 'soft_prompt', "
                f"got {tuple(soft_prompt.shape)}"
            )
        backbone = self.reading_backbone()
        embeds = soft_prompt.to(backbone.dtype)
        eos = backbone.generation_config.eos_token_id  # all of the model's end ids
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        attention_mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)  # (B, N)
        ids = backbone.generate(inputs_embeds=embeds, attention_mask=attention_mask, generation_config=config)
        # ids: (B, T), only the new tokens when generating from embeddings
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    @torch.inference_mode()
    def logit_lens(
        self,
        texts: Sequence[str],
        top_k: int = 10,
        prompt: str | None = None,
        batch_size: int = 16,
        contrast: bool = True,
    ) -> list[list[str]]:
        """Top vocabulary tokens of the compression states h through the backbone's LM head.

        The raw lens (``contrast=False``: probability averaged over the N positions) is dominated by tokens that
        every text's compression states share, mostly punctuation. The contrastive lens (default) ranks tokens by
        how much their log-probability, averaged over the N positions, exceeds its average over the fixed
        :data:`LENS_REFERENCE` texts (encoded with the same prompt): the words specific to this text's answer.

        Args:
            texts: The texts to inspect.
            top_k: Tokens to return per text.
            prompt: The instruction used when encoding.
            batch_size: Texts per forward pass.
            contrast: Rank against the reference texts (default) or by raw averaged probability.

        Returns:
            For each text, ``top_k`` token strings, highest first.
        """
        texts = validate_texts(texts)
        _check_count("batch_size", batch_size)
        _check_count("top_k", top_k, self.vocab_size)
        scores = self._lens_scores(texts, prompt, batch_size, contrast)  # (B, V)
        if contrast:
            scores = scores - self._lens_scores(LENS_REFERENCE, prompt, batch_size, contrast).mean(0)  # minus (V,)
        top = scores.topk(top_k, dim=-1).indices  # (B, k)
        return [[self.tokenizer.decode([i]).strip() for i in row] for row in top.tolist()]

    def _lens_scores(self, texts: Sequence[str], prompt: str | None, batch_size: int, log: bool) -> torch.Tensor:
        """(B, V): mean over the N positions of the LM head's log-probabilities (``log``) or probabilities."""
        rows, backbone = [], self.reading_backbone()
        for start in range(0, len(texts), batch_size):
            states, _ = self._run(texts[start : start + batch_size], prompt, backbone)  # (b, N, H)
            logp = backbone.get_output_embeddings()(states).float().log_softmax(-1)  # (b, N, V)
            rows.append(logp.mean(dim=1) if log else logp.exp().mean(dim=1))
        return torch.cat(rows)


MAX_NEW_TOKENS = 4096
"""Upper bound of ``decode(max_new_tokens=...)``: a soft prompt decodes to a short answer, not a book."""


def _check_count(name: str, value: int, maximum: int | None = None) -> None:
    """Raises a ValueError naming the argument unless ``1 <= value <= maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise ValueError(f"{name} must be an integer of at least 1{bound}, got {value!r}")


LENS_REFERENCE = (
    "Tell me a joke.",
    "How does a car engine work?",
    "What happened in ancient Rome?",
    "Give me tips for a job interview.",
    "Explain how computers store data.",
    "What should I cook for dinner tonight?",
    "Describe the weather in spring.",
    "Summarize the plot of a famous novel.",
)
"""Fixed, varied requests whose average lens the contrastive logit lens subtracts (batch-independent)."""
