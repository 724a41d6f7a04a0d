"""The server in a child process: start it, wait until it is ready, stop it (tests, benchmarks, notebooks).

The child runs ``python -m st_llm2vec_gen.cli serve`` in its own session, so that stopping it can also clean up
whatever LitServe processes a crash would leave behind (they share the session's process group).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on now (the system's choice, above 1024)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``llm2vec-gen serve`` in a child process on 127.0.0.1.

    Args:
        args: Options of the command besides ``--host`` and ``--port``, e.g. ``["--model", path]``.
        port: The port; none: a free one.
        env: The child's environment; none: this process's.

    Example:
        >>> with ServerProcess(["--threads", "1"]) as server:  # doctest: +SKIP
        ...     server.wait_ready(timeout=120)
        ...     print(server.url)  # http://127.0.0.1:PORT, OpenAI clients take f"{server.url}/v1"
    """

    def __init__(self, args: Sequence[str] = (), port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.host, self.port = "127.0.0.1", port or free_port()
        self.url = f"http://{self.host}:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="llm2vec-gen-serve-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "st_llm2vec_gen.cli", "serve", "--host", self.host, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *args], stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def log(self) -> str:
        """What the server has printed so far."""
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Waits until ``GET /health`` answers 200; returns the seconds it took.

        Raises:
            RuntimeError: The server exited (its log is in the message).
            TimeoutError: Not ready within ``timeout`` seconds.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the server was not ready in {timeout} s:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 15.0) -> float:
        """Sends SIGTERM and waits for the server to exit; returns the seconds it took.

        Past ``timeout`` (or if it had already crashed), every process left in its session is killed.
        """
        start = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("the server did not stop within %s s of SIGTERM: killing it", timeout)
        elapsed = time.monotonic() - start
        if not self.gone(timeout=3.0):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return elapsed

    def gone(self, timeout: float = 0.0) -> bool:
        """Whether every process of the server's session (its process group) has exited, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.process.poll()  # reaps the leader once it has exited
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the server (if it runs) and deletes its log."""
        self.stop()
        self._log.close()
        if os.path.exists(self._log.name):
            os.unlink(self._log.name)
