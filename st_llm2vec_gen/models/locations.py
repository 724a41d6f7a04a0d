"""Whether a model reference is a local path or a hub id: decided here, for every command and loader.

Self-contained saved models carry a copy of it (it imports only the standard library).
"""

from __future__ import annotations

import os


def looks_like_path(name_or_path: str) -> bool:
    """Whether a model reference is meant as a local path rather than a hub id (``namespace/name``).

    True when it starts with ``/``, ``./``, ``../`` or ``~``, contains the platform's separator where that is not
    ``/``, or has more than one ``/`` (a hub id has at most one).
    """
    text = str(name_or_path)
    separators = {os.sep, os.altsep} - {None, "/"}
    return (
        text.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or any(sep in text for sep in separators)
        or text.count("/") > 1
    )


def check_local_path(name_or_path: str, what: str) -> str:
    """Returns ``name_or_path`` with ``~`` expanded if it is an existing path or a hub id.

    Raises:
        FileNotFoundError: If it looks like a local path (see :func:`looks_like_path`) but does not exist, instead
            of the hub client's confusing "repo id must be in the form ..." error.
    """
    expanded = os.path.expanduser(str(name_or_path))
    if os.path.exists(expanded):
        return expanded
    if looks_like_path(name_or_path):
        raise FileNotFoundError(
            f"The {what} path {name_or_path} does not exist: check the path (a hub id has the form namespace/name)."
        )
    return str(name_or_path)
