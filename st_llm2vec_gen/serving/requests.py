"""Checking an OpenAI embeddings request body: what to encode, with which saved prompt, in which format.

Every refusal is a :class:`RequestError` with the HTTP status and a message that says what to send instead; the
checks run in the HTTP process, before the request joins a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model_info import ModelInfo

ENCODING_FORMATS = ("float", "base64")
PROMPT_FIELD = "prompt_name"
"""The body field that names the prompt (the ``openai`` client sends it with ``extra_body={"prompt_name": ...}``)."""


class RequestError(Exception):
    """A request the server refuses.

    Attributes:
        status: The HTTP status: 400 malformed, 404 unknown model, 413 too large.
        message: What is wrong and what to send instead.
        param: The body field at fault, if one is.
    """

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


@dataclass(frozen=True)
class EmbeddingJob:
    """A checked request.

    Attributes:
        texts: The texts, in the request's order.
        prompt_name: The saved prompt to encode them with; None: no prompt.
        encoding_format: ``float`` (JSON numbers) or ``base64`` (little-endian float32 bytes).
        model: The ``model`` field as the client sent it (echoed in the response).
    """

    texts: list[str]
    prompt_name: str | None
    encoding_format: str
    model: str


@dataclass(frozen=True)
class Limits:
    """Size limits of one request.

    Attributes:
        max_inputs: Most texts.
        max_chars: Most characters in one text.
    """

    max_inputs: int
    max_chars: int


def parse_request(body: Any, info: ModelInfo, limits: Limits) -> EmbeddingJob:
    """Checks a decoded JSON body against the model and the limits.

    Args:
        body: The decoded JSON body.
        info: The served model (its id and prompt names).
        limits: The size limits.

    Raises:
        RequestError: With the status and message to answer.
    """
    if not isinstance(body, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(body).__name__}")
    prompt = _prompt_name(body, info)
    texts = _texts(body.get("input"), limits)
    encoding_format = body.get("encoding_format") or "float"
    if encoding_format not in ENCODING_FORMATS:
        raise RequestError(
            400, f"encoding_format must be 'float' or 'base64', got {encoding_format!r}", "encoding_format"
        )
    if body.get("dimensions") is not None:
        raise RequestError(400, "dimensions is not supported: the model's vectors have one fixed size", "dimensions")
    return EmbeddingJob(texts=texts, prompt_name=prompt, encoding_format=encoding_format, model=body["model"])


def _prompt_name(body: dict, info: ModelInfo) -> str | None:
    """The prompt from ``model="<id>:<prompt>"`` or the ``prompt_name`` field (they must agree), else the default."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, f"'model' must be a string: {_model_hint(info)}", "model")
    base, sep, suffix = model.partition(":")  # the id has no ":", a prompt name may
    if not sep:
        base, suffix = model, None
    if base != info.model_id:
        raise RequestError(404, f"model {model!r} is not served here: {_model_hint(info)}", "model")
    field = body.get(PROMPT_FIELD)
    if field is not None and not isinstance(field, str):
        raise RequestError(400, f"{PROMPT_FIELD} must be a string, got {type(field).__name__}", PROMPT_FIELD)
    if suffix is not None and field is not None and suffix != field:
        raise RequestError(400, f"the model names prompt {suffix!r} but {PROMPT_FIELD} is {field!r}", PROMPT_FIELD)
    name = suffix if suffix is not None else field
    if name is None:
        return info.default_prompt
    if name not in info.prompts:
        saved = ", ".join(sorted(info.prompts)) or "none"
        raise RequestError(400, f"unknown prompt name {name!r}; the model's saved prompts are: {saved}", PROMPT_FIELD)
    return name


def _model_hint(info: ModelInfo) -> str:
    names = ", ".join(sorted(info.prompts))
    return f"send {info.model_id!r}, or {info.model_id + ':<prompt name>'!r} with one of: {names}"


def _texts(value: Any, limits: Limits) -> list[str]:
    if value is None:
        raise RequestError(400, "'input' is missing: send a string or a list of strings", "input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list):
        raise RequestError(400, f"'input' must be a string or a list of strings, got {type(value).__name__}", "input")
    if not texts:
        raise RequestError(400, "'input' is an empty list: send at least one text", "input")
    if len(texts) > limits.max_inputs:
        raise RequestError(413, f"{len(texts)} inputs in one request; the limit is {limits.max_inputs}", "input")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(400, f"input[{i}] is {_kind(text)}, not a string: {_TOKEN_HINT}", "input")
        if not text.strip():
            raise RequestError(400, f"input[{i}] is empty or blank: there is nothing to embed", "input")
        if len(text) > limits.max_chars:
            raise RequestError(413, f"input[{i}] has {len(text)} characters; the limit is {limits.max_chars}", "input")
    return texts


_TOKEN_HINT = (
    "send text, not token ids (LangChain's OpenAIEmbeddings sends token ids unless check_embedding_ctx_length=False)"
)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer (a token id?)"
    if isinstance(value, list):
        return "a list (token ids?)"
    return "null" if value is None else f"a {type(value).__name__}"
