"""The HTTP side of the server: LitServe routes for ``POST /v1/embeddings`` and ``GET /v1/models``.

A LitServe *spec* owns its routes and runs in the HTTP process; the model runs in LitServe's worker process. Each
request is read and checked here (:func:`~st_llm2vec_gen.serving.requests.parse_request`), so that a bad one is
answered at once and never reaches a dynamic batch, where LitServe would fail the whole batch with it. Checked
requests go to the worker's queue as ``{"texts", "prompt_name"}``; the worker's answer, float32 vectors and a token
count, is turned into the OpenAI response here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import time
import uuid
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from litserve.specs.base import LitSpec
from litserve.utils import LitAPIStatus, ResponseBufferItem

from .model_info import ModelInfo
from .requests import Limits, RequestError, parse_request
from .responses import embeddings_body, error_body, models_body

logger = logging.getLogger(__name__)

EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
BATCH_HEADER = "X-Batch-Requests"
"""Response header: how many requests the worker encoded together with this one (itself included)."""


class EmbeddingsSpec(LitSpec):
    """OpenAI-compatible embeddings routes for one LLM2Vec-Gen model.

    Args:
        info: The served model's id and prompts.
        limits: Size limits of one request.
        max_body_bytes: Largest request body read; a larger one is refused with 413 before it is parsed.
    """

    def __init__(self, info: ModelInfo, limits: Limits, max_body_bytes: int) -> None:
        super().__init__()
        self.api_path = EMBEDDINGS_PATH  # also the key of the worker's request queue
        self.info, self.limits, self.max_body_bytes = info, limits, max_body_bytes

    def pre_setup(self, lit_api: Any) -> None:
        """Registers the routes (LitServe calls it once, before it starts the processes)."""
        self.add_endpoint(EMBEDDINGS_PATH, self.embeddings, ["POST"])
        self.add_endpoint(MODELS_PATH, self.models, ["GET"])

    def decode_request(self, request: dict, context_kwargs: dict | None = None) -> dict:
        """The worker's input is the checked request as queued."""
        return request

    def encode_response(self, output: dict, context_kwargs: dict | None = None) -> dict:
        """The worker's output travels back as it is."""
        return output

    async def models(self, request: Request) -> JSONResponse:
        """``GET /v1/models``."""
        return JSONResponse(models_body(self.info))

    async def embeddings(self, request: Request) -> JSONResponse:
        """``POST /v1/embeddings``: check, queue for the worker, wait, answer."""
        try:
            body = await self._read_json(request)
            job = parse_request(body, self.info, self.limits)
        except RequestError as error:
            return _error(error.status, error.message, error.param)
        output = await self._run({"texts": job.texts, "prompt_name": job.prompt_name})
        if isinstance(output, JSONResponse):
            return output
        content = embeddings_body(output["vectors"], job.model, output["tokens"], job.encoding_format)
        return JSONResponse(content, headers={BATCH_HEADER: str(output["batch_requests"])})

    async def _read_json(self, request: Request) -> Any:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise RequestError(413, f"the request body is over {self.max_body_bytes} bytes")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(400, f"the body is not valid JSON: {error}") from None

    async def _run(self, payload: dict) -> dict | JSONResponse:
        """Queues ``payload`` for the worker (LitServe's queue and response buffer) and waits for its answer."""
        uid = str(uuid.uuid4())
        event = asyncio.Event()
        self.response_buffer[uid] = ResponseBufferItem(event=event)
        try:
            self.request_queue.put((self.response_queue_id, uid, time.monotonic(), payload))
            await event.wait()
            response, status = self.response_buffer[uid].response
        finally:
            self.response_buffer.pop(uid, None)
        if status != LitAPIStatus.ERROR:
            return response
        if isinstance(response, bytes):
            try:
                response = pickle.loads(response)
            except Exception:  # noqa: BLE001 - an unreadable error is still an error
                pass
        if isinstance(response, HTTPException):  # e.g. 504 from LitServe: waited longer than the timeout
            return _error(response.status_code, str(response.detail))
        logger.error("the model's worker failed on a batch: %r", response)
        return _error(500, "the model's worker failed on this request's batch; the server log has the details")


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param), status_code=status)
