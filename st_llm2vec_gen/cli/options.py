"""Command-line options built from settings dataclasses, and the strict value types they use.

Each field becomes ``--field-name``, typed from its annotation and documented from the class's ``Attributes:``
docstring section, so a setting is described once, in the library. A boolean field takes ``--name``, ``--name
false`` (true/false, 1/0, yes/no, on/off) or ``--no-name``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any


def boolean(text: str) -> bool:
    """Strict command-line boolean: true/false, 1/0, yes/no, on/off (any case); anything else is a usage error."""
    value = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
    try:
        return value[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true/false, 1/0, yes/no or on/off, got {text!r}") from None


def at_least(kind: type, minimum: float) -> Callable[[str], Any]:
    """A parser of numbers of ``kind`` (int or float) that are >= ``minimum`` (a usage error otherwise)."""
    what = f"{'an integer' if kind is int else 'a number'} >= {minimum}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


positive_int = at_least(int, 1)
non_negative = at_least(float, 0)


def shard(text: str) -> tuple[int, int]:
    """``i/n`` with integers 0 <= i < n (a usage error otherwise)."""
    index, sep, count = text.partition("/")
    if not (sep and index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise argparse.ArgumentTypeError(f"expected i/n with integers 0 <= i < n (e.g. 0/4), got {text!r}")
    return int(index), int(count)


def devices(text: str) -> list[str]:
    """``cpu,cpu`` or ``cuda:0,cuda:1``: torch device names, comma-separated (a usage error otherwise)."""
    import torch

    names = [name.strip() for name in text.split(",")]
    for name in names:
        try:
            torch.device(name)
        except (RuntimeError, ValueError):
            message = f"expected device names such as cpu,cpu or cuda:0,cuda:1, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
    return names


def json_object(text: str) -> dict:
    """A JSON object, e.g. ``'{"layer": 20}'`` (a usage error otherwise)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"layer\": 20}}': {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: Iterable[str] = (),
    types: dict[str, Callable[[str], Any]] | None = None,
    choices: dict[str, Iterable[Any]] | None = None,
    defaults: dict[str, Any] | None = None,
    bool_values: bool = True,
) -> None:
    """One option per field of the dataclass ``cls``, except ``skip``; ``types``, ``choices`` and ``defaults`` refine
    fields.

    Integers are >= 1 (:func:`positive_int`) unless ``types`` says otherwise; ``list[str]`` fields take one or more
    values; the default is the field's unless ``defaults`` gives the command's own. ``bool_values=False`` makes
    booleans plain flags (``--name``, ``--no-name``) for commands with positional texts, which an optional value
    would swallow.
    """
    hints, docs = typing.get_type_hints(cls), attribute_docs(cls)
    types, choices, defaults = types or {}, choices or {}, defaults or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:  # a required field (no default) is given by the command, e.g. with set_defaults
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        flag, doc = "--" + f.name.replace("_", "-"), docs.get(f.name, "")
        kind = "given" if f.name in types else _kind(hints[f.name])
        extra: dict[str, Any] = {"choices": list(choices[f.name])} if f.name in choices else {}
        help_ = f"{doc} (default {default})"
        if kind is bool:
            value = {"type": boolean, "nargs": "?", "const": True} if bool_values else {"action": "store_true"}
            parser.add_argument(flag, default=default, help=help_, **value)
            parser.add_argument(f"--no-{flag[2:]}", dest=f.name, action="store_false", help=argparse.SUPPRESS)
        elif kind is list:
            parser.add_argument(flag, nargs="+", default=default, help=help_, **extra)
        else:
            convert = types.get(f.name, positive_int if kind is int else kind)
            parser.add_argument(flag, type=convert, default=default, help=help_, **extra)


def attribute_docs(cls: type) -> dict[str, str]:
    """Each field's text in the Google-style ``Attributes:`` section of ``cls``'s docstring, on one line."""
    section = (cls.__doc__ or "").partition("Attributes:")[2]
    docs: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        found = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if found and found.group(1) in {f.name for f in dataclasses.fields(cls)}:
            name, docs[found.group(1)] = found.group(1), found.group(2).strip()
        elif name and line.strip():
            docs[name] += " " + line.strip()
        elif not line.strip() and name:
            name = None
    return {k: _plain(v).replace("%", "%%") for k, v in docs.items()}


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``:func:`~a.b.name``` is ``name``, ````x```` is ``x``."""
    return re.sub(r":\w+:`~?(?:[\w.]*\.)?(\w+)`", r"\1", text).replace("``", "")


def _kind(hint: Any) -> Any:
    """The option type of an annotation: ``str | None`` is str, ``list[str]`` is list."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return list
    if origin is not None and args and typing.get_origin(args[0]) is list:
        return list
    return args[0] if origin is not None and args else hint
