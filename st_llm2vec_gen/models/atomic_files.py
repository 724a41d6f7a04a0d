"""Files written whole or not at all, and checks that a location is writable: every file this package writes goes
through :func:`atomic_write`.

It lives beside the module because self-contained saved models carry a copy of it (it imports only the standard
library); every other room imports it from here.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FILE_MODE, _FOLDER_MODE = 0o666, 0o777  # before the umask, as open() and os.mkdir() create them


def usual_permissions(folder: str) -> None:
    """Gives a folder tree written by owner-only writers (mkdtemp, safetensors) the permissions of open/mkdir."""
    umask = _umask()
    os.chmod(folder, _FOLDER_MODE & ~umask)
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), _FOLDER_MODE & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), _FILE_MODE & ~umask)


def _umask() -> int:
    """The process's umask, read without changing it where the platform tells it (Linux), else assumed 022."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        return 0o022


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Calls ``write(tmp)`` for a temporary file beside ``path``, then renames it into place.

    The file gets the permissions of a plain ``open()`` (0666 minus the umask), not the owner-only 0600 of
    ``tempfile.mkstemp`` or safetensors, so a saved model is readable by whoever can read a normal file there.
    A failed write (disk full, killed process) leaves the previous ``path`` as it was and no temporary file behind.
    The data is synced before the rename, so after a power loss ``path`` holds the old or the new bytes, not an empty
    file.
    """
    path = Path(path)
    tmp = _create_unique(path.parent, f".{path.name}.", ".tmp")
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE & ~_umask())  # writers such as safetensors make their files owner-only
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as error:  # e.g. a full disk: say which file failed and that the old one is intact
        kept = "the previous file is unchanged" if path.exists() else "nothing was written"
        raise _os_error(error, f"Cannot write {path}: {error.strerror or error} ({kept})") from error
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fsync(path: str) -> None:
    """Flushes a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_unique(folder: Path, prefix: str, suffix: str) -> str:
    """Creates an empty, new file in ``folder`` with mode 0666 minus the umask and returns its path.

    Raises:
        OSError: If ``folder`` cannot be written to (read-only, missing), naming it.
    """
    while True:
        name = os.path.join(folder, f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return name
        except FileExistsError:
            continue
        except OSError as error:
            raise _os_error(error, f"Cannot write into {folder}: {error.strerror or error}") from error


def check_writable(folder: str | os.PathLike, what: str) -> None:
    """Creates ``folder`` (and its parents) and checks that a file can be created there; leaves nothing behind.

    Called before a long job loads any model, so that a read-only or full output location fails in a second.

    Raises:
        OSError: ``PermissionError`` and the like, naming ``what`` and the folder.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        message = f"Cannot write to the {what} {folder}: {error.strerror or error}. Choose a writable location."
        raise _os_error(error, message) from None


def _os_error(error: OSError, message: str) -> OSError:
    """An OSError of the same kind (``PermissionError``, errno ENOSPC, ...) with a message naming the path."""
    return OSError(error.errno, message) if error.errno is not None else OSError(message)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes JSON atomically."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True)

    atomic_write(path, dump)
