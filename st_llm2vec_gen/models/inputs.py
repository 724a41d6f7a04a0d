"""Turning texts into LLM2Vec-Gen model inputs: checking them, so bad input fails early with a message that names
it, and tokenizing them, as texts to embed (N compression-token slots appended) or as responses to reconstruct.

Copied next to self-contained saved models with the module, so it imports only torch and transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase


def validate_texts(inputs: Any) -> list[str]:
    """Checks that ``inputs`` is a non-empty sequence of non-empty strings.

    Raises:
        TypeError: For ``None``, a non-sequence, or non-string items.
        ValueError: For an empty list or an empty/whitespace-only text.
    """
    if inputs is None:
        raise TypeError("Expected a list of strings to embed, got None.")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, Sequence):
        raise TypeError(f"Expected a list of strings to embed, got {type(inputs).__name__}.")
    if len(inputs) == 0:
        raise ValueError("Expected at least one text to embed, got an empty list.")
    for i, text in enumerate(inputs):
        if not isinstance(text, str):
            raise TypeError(f"Text {i} is a {type(text).__name__}, expected a string: {text!r:.80}")
        if not text.strip():  # the text itself is shown: ST sorts texts by length, so i counts in its order
            shown = repr(text[:20]) + ("..." if len(text) > 20 else "")
            raise ValueError(f"Text {i} is empty ({shown}): there is nothing to embed.")
    return list(inputs)


def with_prompt(prompt: str | None, text: str) -> str:
    """The one rule that joins an instruction and a text, at inference and in training: a space between them unless
    the prompt ends in whitespace; no prompt (None or "") leaves the text as it is."""
    if not prompt:
        return text
    return prompt + ("" if prompt[-1].isspace() else " ") + text


def tokenize_texts(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], prompt: str | None, max_length: int, num_tokens: int
) -> dict[str, torch.Tensor]:
    """Tokenizes ``prompt + " " + text`` left-padded, cut to leave room for the N compression tokens, and appends
    their N slots.

    Args:
        tokenizer: The backbone's tokenizer (with a pad token).
        texts: The texts.
        prompt: The instruction before each text, joined by a space unless it ends in whitespace; None or "": none.
        max_length: Maximum tokens per input, the N slots included.
        num_tokens: The number N of compression tokens.

    Returns:
        ``input_ids`` and ``attention_mask`` (B, L); the last N positions are the compression-token slots (pad ids,
        attended).
    """
    texts = [with_prompt(prompt, text) for text in texts]
    encoded = tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=max_length - num_tokens,
        padding_side="left",
        return_tensors="pt",
    )
    batch = encoded["input_ids"].shape[0]
    slots = torch.full((batch, num_tokens), tokenizer.pad_token_id, dtype=torch.long)
    return {
        "input_ids": torch.cat([encoded["input_ids"], slots], dim=1),  # (B, L)
        "attention_mask": torch.cat([encoded["attention_mask"], torch.ones_like(slots)], dim=1),  # (B, L)
    }


def tokenize_responses(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, eos_id: int
) -> dict[str, torch.Tensor]:
    """Tokenizes responses as decoder targets: no special tokens but ``eos_id`` at the end, right-padded.

    Args:
        tokenizer: The backbone's tokenizer (with a pad token).
        texts: The responses.
        max_length: Maximum tokens per response, its EOS included; a longer response is cut and keeps its EOS.
        eos_id: The id that ends the backbone's answers.

    Returns:
        ``input_ids`` and ``attention_mask`` (B, T), T <= ``max_length``.
    """
    ids = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 1)["input_ids"]
    rows = {"input_ids": [row + [eos_id] for row in ids]}
    padded = tokenizer.pad(rows, padding_side="right", return_tensors="pt")
    return {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}  # (B, T)
