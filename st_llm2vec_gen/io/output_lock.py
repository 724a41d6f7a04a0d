"""One writer per output: an exclusive lock on a hidden file beside it (``.NAME.lock``), held while a run writes.

The lock is the operating system's (``flock``): it is released when the process ends however it ends, so the lock
file a killed run leaves behind never blocks a rerun (a run that ends normally removes it). The file holds the
holder's process id and host, named in the error a second writer gets. POSIX only; elsewhere the lock is a no-op
(with a warning).
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


_HELD: dict[Path, tuple[IO[str], int]] = {}
"""The locks this process holds, with their open files and how many holders share each: a lock is re-entrant
within a process (the CLI takes it before loading a model, the library again when it writes)."""


class OutputLockedError(OSError):
    """Another live process holds the output's lock."""


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the file ``handle`` has open."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def lock_beside(output: str | os.PathLike, part: str = "") -> OutputLock:
    """The lock of an output file or folder: ``.NAME.lock`` (``.NAME.PART.lock`` for one part of it, e.g. a shard)
    in the same folder, so nothing is added to the output itself."""
    path = Path(output).absolute()
    return OutputLock(path.parent / f".{path.name}{'.' + part if part else ''}.lock", str(output))


class OutputLock:
    """An exclusive lock on ``path`` (created if absent), for ``with`` or :meth:`acquire` / :meth:`release`.

    Args:
        path: The lock file.
        what: The output as named in the error message.
    """

    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.path, self.what = Path(path).absolute(), what
        self.file: IO[str] | None = None

    def acquire(self) -> OutputLock:
        """Takes the lock.

        Raises:
            OutputLockedError: If a live process holds it, naming its process id and host.
        """
        if fcntl is None:
            logger.warning("No file locks on this system: two runs on %s would both write it", self.what)
            return self
        if self.path in _HELD:
            handle, holders = _HELD[self.path]
            _HELD[self.path] = (handle, holders + 1)
            self.file = handle
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise OutputLockedError(
                    f"{self.what} is being written by {holder} (lock {self.path}): wait for that run to end or stop "
                    "it; a run that was killed releases its lock by itself"
                ) from None
            if _same_file(handle, self.path):
                break
            handle.close()  # the holder removed the file as we opened it: lock the new one
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self.file = handle
        _HELD[self.path] = (handle, 1)
        return self

    def release(self) -> None:
        """Releases the lock and removes its file (a run opening it meanwhile sees that and locks a new one)."""
        if self.file is None:
            return
        handle, holders = _HELD.pop(self.path)
        if holders > 1:
            _HELD[self.path] = (handle, holders - 1)
        else:
            self.path.unlink(missing_ok=True)  # still held: nobody else can have locked this file
            handle.close()  # closing the descriptor releases the flock
        self.file = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()
