"""Checking the texts given to an LLM2Vec-Gen model, so bad input fails early with a message that names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
