"""Starting and stopping the embeddings server: LitServe with one model worker and one HTTP process.

Processes: this one (LitServe's supervisor), LitServe's queue manager, one HTTP process (uvicorn) and one worker
that loads the model (one copy of the backbone, whatever the number of clients). ``GET /health`` answers 200 once the
worker has loaded the model; LitServe starts the HTTP process only then. SIGTERM stops all of them within seconds:
LitServe shuts down cleanly on its own stop event, which the handler here sets (it only stops on Ctrl+C by itself).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .model_info import read_model_info
from .requests import Limits
from .settings import ServeSettings

logger = logging.getLogger(__name__)

GRACEFUL_SECONDS = 5
"""How long the HTTP process may finish its requests in flight once asked to stop (LitServe's default is 30 s)."""


def build_server(settings: ServeSettings) -> Any:
    """A ``litserve.LitServer`` for the settings' model; nothing starts until its ``run``.

    Raises:
        ImportError: LitServe is not installed.
        OSError, ValueError: The model's configuration cannot be read.
    """
    try:
        import litserve as ls
    except ImportError as error:
        raise ImportError(f"{error}: serving needs LitServe: pip install 'st-llm2vec-gen[serve]'") from None

    from .. import DEFAULT_MODEL
    from ..models.saved_format import check_model_reference
    from .spec import EmbeddingsSpec
    from .worker import EmbeddingWorker

    path = check_model_reference(settings.model or DEFAULT_MODEL, "model")
    info = read_model_info(path, settings.served_name)
    spec = EmbeddingsSpec(info, Limits(settings.max_inputs, settings.max_chars), settings.max_body_bytes)
    worker = EmbeddingWorker(info, settings, spec)
    server = ls.LitServer(
        worker, accelerator=settings.device, devices=1, workers_per_device=1, timeout=settings.timeout
    )
    server.uvicorn_graceful_timeout = GRACEFUL_SECONDS
    logger.info(
        "serving %s as %r (prompts: %s; default %s) on http://%s:%d/v1",
        path, info.model_id, ", ".join(sorted(info.prompts)) or "none", info.default_prompt, settings.host,
        settings.port,
    )  # fmt: skip
    return server


def serve(settings: ServeSettings) -> None:
    """Runs the server until SIGTERM or Ctrl+C."""
    server = build_server(settings)
    with _stop_on_sigterm(server):
        server.run(
            host=settings.host, port=settings.port, num_api_servers=1, generate_client_file=False,
            log_level="info", access_log=settings.access_log,
        )  # fmt: skip
    logger.info("server stopped")


@contextmanager
def _stop_on_sigterm(server: Any) -> Iterator[None]:
    """While the block runs, SIGTERM sets LitServe's stop event instead of killing this process alone.

    The event is a multiprocessing-manager proxy that the main thread may be waiting on; setting it from another
    thread uses another connection, so the handler never interrupts the main thread's own call. Processes forked
    from this one inherit the handler; in them it does what SIGTERM does by default.
    """

    owner = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a process forked from this one (LitServe's queue manager): die as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        event = getattr(server, "_shutdown_event", None)
        if event is None:  # LitServe has not started its processes yet: this one is all there is to stop
            raise SystemExit(128 + signum)
        logger.info("SIGTERM: shutting down")
        threading.Thread(target=event.set, name="sigterm-stop", daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
