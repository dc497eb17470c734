"""Type checks for policy options given as dicts (``retry={"attempts": 3}``, Django's RETRY).

A dict's keys must be fields of the options dataclass (a misspelt one gets a "did you mean"),
and each value must have the field's type: ``{"attempts": "x"}`` is a
:class:`~mailcore.errors.ConfigurationError` naming the option, the field and what it takes,
instead of a ``TypeError`` at the first send. Pure: no I/O, usable from Django's system checks.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from mailcore.config import did_you_mean
from mailcore.errors import ConfigurationError

__all__ = ["check_fields"]

_KIND_TEXT = {int: "a whole number", float: "a number", bool: "True or False", str: "a string"}


def check_fields(cls: type[Any], values: Mapping[str, Any], option: str) -> None:
    """Raise :class:`ConfigurationError` for an unknown key or a value of the wrong type."""
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    for key, value in values.items():
        if key not in hints or key not in names:
            guess = did_you_mean(str(key), names)
            suggestion = f"; did you mean {guess!r}?" if guess else ""
            raise ConfigurationError(
                f"unknown {option} option {key!r}{suggestion} {option} takes {', '.join(sorted(names))}"
            )
        expected = _accepted(hints[key])
        if not any(_is(value, kind) for kind in expected):
            wanted = " or ".join(
                "None" if kind is type(None) else _KIND_TEXT.get(kind, kind.__name__) for kind in expected
            )
            raise ConfigurationError(f"{option} option {key!r} must be {wanted}, not {value!r}")


def _accepted(annotation: Any) -> tuple[type[Any], ...]:
    """The plain types an annotation allows (``float | None`` → ``(float, NoneType)``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(arg for arg in typing.get_args(annotation) if isinstance(arg, type))
    return (annotation,) if isinstance(annotation, type) else (object,)


def _is(value: Any, kind: type[Any]) -> bool:
    if kind is float:  # an int is a fine number of seconds; bool and NaN/inf are not
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
