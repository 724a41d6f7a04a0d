"""Fixtures of the server tests: the server on a tiny model in a child process (127.0.0.1, a free port), and the same
model in this process to compare vectors with."""

from __future__ import annotations

import pytest
import torch
from serve_helpers import LIMITS, SERVED_NAME, start_server


@pytest.fixture(scope="module")
def tiny_server(chat_model_dir):
    """The server on the tiny chat model, served as ``tiny`` with small limits."""
    options = ["--served-name", SERVED_NAME, "--max-inputs", str(LIMITS["max_inputs"]),
               "--max-chars", str(LIMITS["max_chars"]), "--batch-timeout", "0.05"]  # fmt: skip
    with start_server(chat_model_dir, *options) as server:
        yield server


@pytest.fixture(scope="module")
def tiny_model(chat_model_dir):
    """The tiny model loaded in this process (float32, one thread)."""
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    return SentenceTransformer(chat_model_dir, trust_remote_code=True)
