"""The model side of the server: a LitServe ``LitAPI`` that holds the one copy of the model and encodes batches.

LitServe runs it in one worker process and hands it the requests that arrived together (dynamic batching: up to
``max_batch_requests`` requests, waiting at most ``batch_timeout`` seconds for them). A batch's texts are encoded
with one ``model.encode`` call per prompt name among its requests, so a request gets exactly the vectors of
``model.encode(texts, prompt_name=...)`` in-process.
"""

from __future__ import annotations

import logging
from typing import Any

import litserve as ls
import numpy as np

from .batching import IdleBlockingBatchedLoop
from .model_info import ModelInfo
from .settings import ServeSettings
from .spec import EmbeddingsSpec

logger = logging.getLogger(__name__)


class EmbeddingWorker(ls.LitAPI):
    """Encodes checked requests ``{"texts", "prompt_name"}`` into ``{"vectors", "tokens", "batch_requests"}``.

    Args:
        info: The served model.
        settings: The server's settings (batching, batch size, threads).
        spec: The HTTP routes that feed it.
    """

    def __init__(self, info: ModelInfo, settings: ServeSettings, spec: EmbeddingsSpec) -> None:
        batched = settings.max_batch_requests > 1
        super().__init__(
            max_batch_size=settings.max_batch_requests, batch_timeout=settings.batch_timeout, spec=spec,
            loop=IdleBlockingBatchedLoop() if batched else "auto",
        )  # fmt: skip
        self.info, self.batch_size, self.threads = info, settings.batch_size, settings.threads
        self.model: Any = None

    def setup(self, device: str) -> None:
        """Loads the model on ``device`` (once, in the worker process) and checks its prompts."""
        import torch
        from sentence_transformers import SentenceTransformer

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        if self.threads:
            torch.set_num_threads(self.threads)
        self.model = SentenceTransformer(self.info.path, trust_remote_code=True, device=device)
        if dict(self.model.prompts) != self.info.prompts:
            raise RuntimeError(
                f"the loaded model's prompts {sorted(self.model.prompts)} differ from those in its saved "
                f"configuration {sorted(self.info.prompts)}"
            )
        logger.info("model %s loaded on %s, %d torch thread(s)", self.info.path, device, torch.get_num_threads())

    def decode_request(self, request: dict, **kwargs: Any) -> dict:
        """Requests arrive checked (by the HTTP side) as they are encoded."""
        return request

    def batch(self, inputs: list[dict]) -> list[dict]:
        """A batch is the list of its requests."""
        return inputs

    def predict(self, x: dict | list[dict], **kwargs: Any) -> dict | list[dict]:
        """Encodes one request, or a batch of them (a list) together."""
        if isinstance(x, dict):  # max_batch_requests == 1: LitServe passes requests one by one
            return self.encode_jobs([x])[0]
        return self.encode_jobs(x)

    def unbatch(self, output: list[dict]) -> list[dict]:
        """One output per request, in order."""
        return output

    def encode_response(self, output: dict, **kwargs: Any) -> dict:
        """Outputs travel back to the HTTP side as they are."""
        return output

    def encode_jobs(self, jobs: list[dict]) -> list[dict]:
        """The vectors and token counts of each job; the texts of all jobs that share a prompt are encoded together.

        Args:
            jobs: ``{"texts": list[str], "prompt_name": str | None}`` each.
        """
        by_prompt: dict[str | None, list[tuple[int, int]]] = {}
        for j, job in enumerate(jobs):
            by_prompt.setdefault(job["prompt_name"], []).extend((j, k) for k in range(len(job["texts"])))
        vectors: list[list[Any]] = [[None] * len(job["texts"]) for job in jobs]
        tokens = [0] * len(jobs)
        for name, members in by_prompt.items():
            texts = [jobs[j]["texts"][k] for j, k in members]
            encoded = self.model.encode(
                texts, prompt_name=name, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
            counts = self._token_counts(texts, name)
            for (j, k), vector, count in zip(members, encoded, counts):
                vectors[j][k] = vector
                tokens[j] += count
        return [
            {"vectors": np.stack(v).astype(np.float32, copy=False), "tokens": t, "batch_requests": len(jobs)}
            for v, t in zip(vectors, tokens)
        ]

    def _token_counts(self, texts: list[str], prompt_name: str | None) -> list[int]:
        """Tokens the backbone reads per text: prompt, text (cut at max_seq_length) and compression tokens."""
        prompt = self.model.prompts.get(prompt_name or self.model.default_prompt_name or "")
        mask = self.model[0].preprocess(texts, prompt=prompt)["attention_mask"]
        return mask.sum(dim=1).tolist()
