"""Helpers of the server tests (a plain module: ``from conftest import`` would be ambiguous between folders)."""

from __future__ import annotations

import os

from st_llm2vec_gen.serving.process import ServerProcess

STARTUP_TIMEOUT = 180.0
"""Seconds a server may take to load (imports and model), on a busy 2-core machine."""
SERVED_NAME = "tiny"
LIMITS = {"max_inputs": 16, "max_chars": 400}


def server_env() -> dict[str, str]:
    """The server's environment: offline, float32 (exact vectors), one thread per library (a shared 2-core box)."""
    return {
        **os.environ, "HF_HUB_OFFLINE": "1", "ST_LLM2VEC_GEN_CPU_DTYPE": "float32", "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
    }  # fmt: skip


def start_server(model: str | None, *options: str) -> ServerProcess:
    """A ready server for ``model`` (none: the command's default), stopped and cleaned up if it does not get ready."""
    server = ServerProcess([*(["--model", model] if model else []), "--threads", "1", *options], env=server_env())
    try:
        server.wait_ready(STARTUP_TIMEOUT)
    except BaseException:
        server.close()
        raise
    return server
