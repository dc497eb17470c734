"""Check a transport URL expression and Mailer options without any I/O.

Used by Django's system checks (``manage.py check``) and by ``mailcore check`` before its
network steps, so a misspelt parameter (``?timout=5``) or option (``{"attemps": 3}``) is reported
before the first send instead of at it. Every problem is a text naming the URL (masked) or the
option, the parameter, and what it accepts; nothing is connected, created or opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mailcore.config import Composite, Node, TransportURL, did_you_mean, parse
from mailcore.errors import ConfigurationError
from mailcore.redact import Secret
from mailcore.registry import TransportRegistry

__all__ = ["MAILER_OPTIONS", "mailer_option_problems", "url_problems"]

#: Keyword options :class:`mailcore.Mailer` takes besides the transports (Django's POLICY keys).
MAILER_OPTIONS = (
    "strategy",
    "retry",
    "breaker",
    "on_ambiguous",
    "state",
    "park_on_failure",
    "outbox",
    "queue",
    "from_email",
    "suppression",
)


def url_problems(text: str | Secret | Node, *, registry: TransportRegistry | None = None) -> list[ConfigurationError]:
    """Every problem in a URL or composite expression; empty when it would build.

    An unregistered scheme is an :class:`~mailcore.errors.UnknownTransport` in the list.
    """
    _build = _build_module()
    from mailcore.policy.ratelimit import parse_rate

    try:
        root = parse(text) if isinstance(text, str | Secret) else text
        if isinstance(root, Composite):
            _build._check_weights(root)
        elif root.get("weight") is not None:
            raise ConfigurationError(f"{root.masked()}: ?weight= only means something inside weighted(...)")
    except ConfigurationError as error:
        return [error]
    if registry is None:
        from mailcore.plugins import get_registry

        registry = get_registry()
    problems: list[ConfigurationError] = []
    for leaf in _leaves(root):
        try:
            rate = leaf.get("rate")
            if rate is not None:
                parse_rate(rate)
            leaf.get_float("weight")
            registry.validate(leaf.without(*_build.POLICY_PARAMS))
        except ConfigurationError as error:
            problems.append(error)
    return problems


def mailer_option_problems(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(option, problem)`` for each bad :class:`mailcore.Mailer` keyword option."""
    strategies = _build_module().STRATEGIES
    from mailcore.policy.breaker import BreakerPolicy
    from mailcore.policy.decisions import AMBIGUOUS_CHOICES
    from mailcore.policy.retry import RetryPolicy

    problems: list[tuple[str, str]] = []
    for key, value in options.items():
        if key not in MAILER_OPTIONS:
            guess = did_you_mean(str(key), MAILER_OPTIONS)
            hint = f"did you mean {guess!r}? " if guess else ""
            problems.append((str(key), f"unknown option {key!r}; {hint}use {', '.join(MAILER_OPTIONS)}"))
            continue
        try:
            if key == "retry":
                RetryPolicy.coerce(value)
            elif key == "breaker":
                BreakerPolicy.coerce(value)
            elif key in ("strategy", "on_ambiguous"):
                choices = strategies if key == "strategy" else AMBIGUOUS_CHOICES
                if value not in choices:
                    raise ConfigurationError(f"{key}={value!r}; choose one of {', '.join(choices)}")
            elif key == "suppression":
                from mailcore.policy.suppress import SuppressionPolicy

                SuppressionPolicy.coerce(value)
            elif key == "park_on_failure" and not isinstance(value, bool):
                raise ConfigurationError(f"park_on_failure must be True or False, not {value!r}")
            elif key in ("state", "outbox", "from_email") and not (value is None or isinstance(value, str)):
                raise ConfigurationError(f"{key} must be a string (a URL or an address) or None, not {value!r}")
        except ConfigurationError as error:
            problems.append((str(key), str(error)))
    return problems


def _build_module() -> Any:
    """``mailcore.policy.build`` the module, imported without shadowing the lazy ``build`` function.

    Importing a submodule first would bind the package attribute ``build`` to the module, and a
    later ``from mailcore.policy import build`` would then get the module, not the function.
    """
    import sys

    from mailcore.policy import build  # noqa: F401 - binds the function name before the module loads

    return sys.modules["mailcore.policy.build"]


def _leaves(node: Node) -> Iterator[TransportURL]:
    if isinstance(node, TransportURL):
        yield node
    else:
        for child in node.children:
            yield from _leaves(child)
