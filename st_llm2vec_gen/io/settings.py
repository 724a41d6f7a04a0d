"""Building settings dataclasses from YAML or command-line values: unknown keys and wrong types named up front.

YAML 1.1 reads ``1e-3`` (no dot) as a string and ``on`` as a boolean; a recipe's typo should fail before any model
loads, naming the field, instead of deep inside the trainer. Numbers written as strings are accepted for number
fields when they parse; anything else of the wrong type is an error.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def build(cls: type[T], values: dict[str, Any], source: str) -> T:
    """``cls(**values)`` after checking keys and value types against the dataclass's annotations.

    Nested dataclass fields accept a mapping, built the same way.

    Raises:
        ValueError: For unknown keys or a value of the wrong type, naming the field and ``source``.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(values) - known:
        raise ValueError(f"{source}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
    checked = {name: coerce(hints[name], value, f"{source}: {name}") for name, value in values.items()}
    return cls(**checked)


def coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` as the type ``hint`` names (a number written as a string parsed, a mapping built into a dataclass).

    Raises:
        ValueError: If it cannot be, naming ``where``.
    """
    options = _options(hint)
    if value is None:
        if type(None) in options or Any in options:
            return None
        raise ValueError(f"{where} must not be empty (null)")
    for option in options:
        if option is Any or (option is bool and isinstance(value, bool)):
            return value
        if dataclasses.is_dataclass(option) and isinstance(option, type):
            if isinstance(value, option):
                return value
            if isinstance(value, dict):
                return build(option, value, where)
        elif option in (int, float) and not isinstance(value, bool):
            number = _number(option, value)
            if number is not None:
                return number
        elif option in (str, dict, list) and isinstance(value, option):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"{where} must be {names}, got {value!r} ({type(value).__name__})")


def _options(hint: Any) -> list[Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [o for arg in typing.get_args(hint) for o in _options(arg)]
    return [origin or hint]


def _number(kind: type, value: Any) -> int | float | None:
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if kind is int and isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            return None
    return None
