"""The JSON bodies the server answers with, in the OpenAI API's shapes."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from .model_info import ModelInfo

ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 413: "invalid_request_error"}


def embeddings_body(vectors: np.ndarray, model: str, tokens: int, encoding_format: str) -> dict[str, Any]:
    """``{"object": "list", "data": [...], "model", "usage"}`` for (N, D) float32 vectors.

    ``base64`` packs each vector as little-endian float32 bytes, as the ``openai`` client decodes them.
    """
    vectors = np.asarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        values: list[Any] = [base64.b64encode(v.tobytes()).decode("ascii") for v in vectors]
    else:
        values = vectors.tolist()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_body(info: ModelInfo) -> dict[str, Any]:
    """``GET /v1/models``: the model's id, then ``<id>:<prompt name>`` for each saved prompt."""
    ids = [info.model_id] + [f"{info.model_id}:{name}" for name in sorted(info.prompts)]
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "llm2vec-gen"} for i in ids],
    }


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``, as the OpenAI API reports errors."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}
