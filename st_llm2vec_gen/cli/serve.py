"""``llm2vec-gen serve``: an OpenAI-compatible embeddings server; its options come from
:class:`~st_llm2vec_gen.serving.ServeSettings`."""

from __future__ import annotations

import argparse
import dataclasses
import gc

from ..serving.settings import DEVICES, HOSTS, ServeSettings
from .options import add_options, at_least, non_negative

DESCRIPTION = (
    "Serves a saved LLM2Vec-Gen model over HTTP: POST /v1/embeddings (OpenAI's embeddings API), GET /v1/models, GET "
    "/health (200 once the model is loaded). A request picks the model's saved prompt with model='<id>:query' (any "
    "saved prompt name) or the body field prompt_name; without either it gets the document prompt. Concurrent "
    "requests are encoded together (dynamic batching, LitServe). SIGTERM or Ctrl+C stops it."
)


def add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers the ``serve`` command (its ``run`` default starts the server)."""
    cmd = sub.add_parser("serve", help="OpenAI-compatible embeddings server (/v1/embeddings)", description=DESCRIPTION)
    _add_options(cmd)
    return cmd


def _add_options(cmd: argparse.ArgumentParser) -> None:
    add_options(
        cmd, ServeSettings,
        types={"batch_timeout": non_negative, "timeout": at_least(float, 0.001), "threads": at_least(int, 0)},
        choices={"host": HOSTS, "device": DEVICES},
    )  # fmt: skip
    cmd.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> None:
    from ..serving import serve

    serve(ServeSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServeSettings)}))
    # The process exits next: without this, collecting the torch/transformers import graph at exit took 1.5-2 s
    # here after a SIGTERM (over 10 s on a busy machine); frozen objects are left to the exit itself (0.2 s).
    gc.freeze()
