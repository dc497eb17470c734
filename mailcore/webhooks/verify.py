"""Checks shared by every webhook verifier: headers, the timestamp window, replay caches.

Pure functions and small classes with no provider knowledge. A verifier checks, in this order:
the request is well-formed enough to find its signature, the timestamp is inside the window, the
signature is valid, and (for providers that sign a one-time token) the token was not seen before.
The token is remembered only *after* the signature checked out, so forged requests cannot fill
the cache or block a genuine token.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mailcore.errors import ConfigurationError, WebhookRejected

__all__ = [
    "DEFAULT_MAX_AGE",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "check_fresh",
    "check_settings",
    "get_header",
    "setting_seconds",
]

#: Seconds a signed timestamp may lie in the past (or the future, for clock skew) by default.
DEFAULT_MAX_AGE = 600.0


def check_settings(provider: str, settings: Mapping[str, str], known: set[str]) -> None:
    """Refuse setting names a verifier does not know (a typo must not silently disable a check)."""
    unknown = set(settings) - known
    if unknown:
        raise ConfigurationError(
            f"unknown {provider} webhook setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )


def setting_seconds(provider: str, settings: Mapping[str, str], name: str, default: float) -> float:
    """Setting ``name`` as a positive number of seconds, ``default`` when absent or empty."""
    value = settings.get(name)
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"{provider} webhook setting {name}={value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ConfigurationError(f"{provider} webhook setting {name}={value!r} must be a positive number of seconds")
    return seconds


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively; None when absent or empty.

    Accepts a plain mapping of header names (``{"X-Foo": "1"}``) as well as a WSGI ``environ``
    (``HTTP_X_FOO``).
    """
    wanted = name.lower()
    wsgi_name = "HTTP_" + name.upper().replace("-", "_")
    for key, value in headers.items():
        if key.lower() == wanted or key == wsgi_name:
            return value.strip() or None
    return None


def check_fresh(provider: str, timestamp: str | float | None, max_age: float, *, now: float | None = None) -> float:
    """The signed Unix ``timestamp`` as a float, after checking it lies within ``max_age`` seconds.

    :raises WebhookRejected: ``missing_header`` when absent, ``malformed`` when not a number,
        ``stale`` when older than ``max_age`` or more than ``max_age`` in the future.
    """
    if timestamp is None or timestamp == "":
        raise WebhookRejected(provider, "missing_header", "the request carries no signed timestamp", status=401)
    try:
        value = float(timestamp)
    except (TypeError, ValueError):
        raise WebhookRejected(provider, "malformed", "the signed timestamp is not a number") from None
    if value != value:  # NaN
        raise WebhookRejected(provider, "malformed", "the signed timestamp is not a number")
    current = time.time() if now is None else now
    age = current - value
    if abs(age) > max_age:
        direction = "old" if age > 0 else "in the future"
        raise WebhookRejected(
            provider,
            "stale",
            f"the signed timestamp is {abs(age):.0f}s {direction}; the window is {max_age:.0f}s "
            "(check the server clock, or widen max_age)",
            status=401,
        )
    return value


class ReplayCache(Protocol):
    """Remembers one-time tokens for ``ttl`` seconds."""

    def seen_before(self, key: str, ttl: float) -> bool:
        """Record ``key``; True when it was already recorded and not expired (a replay)."""
        ...

    def forget(self, key: str) -> None:
        """Drop ``key`` again: the request it came with was not processed, its redelivery must pass."""
        ...


class MemoryReplayCache:
    """A per-process replay cache: fine for one receiver process; bounded to ``max_entries``.

    With several receiver processes behind a load balancer use :class:`RedisReplayCache`, or a
    replayed request may land on a process that has not seen the token.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def seen_before(self, key: str, ttl: float) -> bool:
        now = self._clock()
        with self._lock:
            while self._entries and next(iter(self._entries.values())) <= now:
                self._entries.popitem(last=False)
            expires = self._entries.get(key)
            if expires is not None and expires > now:
                return True
            self._entries[key] = now + ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return False

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class RedisReplayCache:
    """A replay cache shared by every receiver process: one ``SET key NX EX ttl`` per token.

    :param client: a ``redis.Redis`` client (or anything with the same ``set`` signature).
    :param prefix: key prefix, so several applications can share one Redis.
    """

    def __init__(self, client: Any, prefix: str = "mailcore:webhook-token:") -> None:
        self._client = client
        self._prefix = prefix

    def seen_before(self, key: str, ttl: float) -> bool:
        stored = self._client.set(self._prefix + key, b"1", nx=True, ex=max(1, int(ttl + 0.999)))
        return not stored

    def forget(self, key: str) -> None:
        self._client.delete(self._prefix + key)
