"""The settings of ``llm2vec-gen serve``: one dataclass, the command's options are built from it."""

from __future__ import annotations

from dataclasses import dataclass

HOSTS = ("127.0.0.1", "0.0.0.0", "::")
"""The addresses LitServe listens on: this machine only, or every IPv4 / IPv6 interface."""
DEVICES = ("auto", "cpu", "cuda", "mps")
"""LitServe's accelerators; ``auto`` takes a GPU when there is one. One worker, one device: one copy of the model."""


@dataclass
class ServeSettings:
    """How the embeddings server runs (``llm2vec-gen serve`` builds its options from these fields).

    Attributes:
        model: A saved LLM2Vec-Gen model: directory or hub id; none: the embedded default model.
        host: Address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 or :: (every interface).
        port: TCP port, 1024 to 65535.
        served_name: The model id clients send and /v1/models lists; none: the model directory's name (a hub id
            as it is).
        max_inputs: Most texts in one request; more is refused with 413.
        max_chars: Most characters in one text; longer is refused with 413 (the model reads at most its
            max_seq_length tokens of a text anyway).
        max_batch_requests: Most requests encoded together (dynamic batching: LitServe's max_batch_size).
        batch_timeout: Seconds the worker waits for more requests to fill a batch once one has arrived.
        batch_size: Texts per forward pass (model.encode's batch_size).
        timeout: Seconds a request may wait for the worker before it is answered with 504.
        threads: Torch threads of the model's worker; 0: torch's default (OMP_NUM_THREADS, else the cores).
        device: Where the model runs: auto (a GPU when there is one), cpu, cuda or mps.
        access_log: Log one line per HTTP request.
    """

    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    served_name: str | None = None
    max_inputs: int = 256
    max_chars: int = 16_384
    max_batch_requests: int = 32
    batch_timeout: float = 0.01
    batch_size: int = 32
    timeout: float = 120.0
    threads: int = 0
    device: str = "auto"
    access_log: bool = False

    def __post_init__(self) -> None:
        if self.host not in HOSTS:
            raise ValueError(f"host must be one of {', '.join(HOSTS)} (LitServe's choices), got {self.host!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not 1024 <= self.port <= 65535:
            raise ValueError(f"port must be between 1024 and 65535, got {self.port}")
        for name in ("max_inputs", "max_chars", "max_batch_requests", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout < 0 or self.timeout <= 0 or self.threads < 0:
            raise ValueError("batch_timeout and threads must be >= 0, timeout > 0")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: every text at its longest, JSON-escaped (6 bytes a character at most)."""
        return self.max_inputs * (self.max_chars * 6 + 8) + 65_536
