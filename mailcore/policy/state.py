"""Where breaker state and rate-limit counters live: this process, or Redis for many workers.

A :class:`StateStore` is chosen once per stack with ``state=``:

* ``None`` (default): ``MAILCORE_STATE_URL`` if set, else a private :class:`MemoryStore` for
  this stack (this Mailer), like Symfony's and Laravel's in-process failover;
* ``"memory://"``: a private :class:`MemoryStore` too;
* ``"memory://NAME"``: the process-wide :class:`MemoryStore` called NAME, shared by every stack
  of the process that names it (useful when Mailers are built per request: breakers and
  limits then outlive each Mailer);
* ``"redis://host:6379/0?prefix=myapp"``: a :class:`RedisStore`; every worker process on every
  machine that uses the same URL shares breakers and rate limits. ``prefix`` (default
  ``mailcore``) namespaces the keys.

Times passed to a store are wall-clock seconds (``time.time()``), so machines sharing Redis
need roughly synchronised clocks (NTP). A store that cannot be reached fails *open*: breakers
read as closed and limits as free, with a WARNING, because losing mail is worse than exceeding a
quota for a moment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailcore.config import mask_url
from mailcore.errors import ConfigurationError
from mailcore.redact import install_log_filter

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.storage import Storage

__all__ = [
    "PENDING",
    "STATE_ENV",
    "BreakerState",
    "IdempotencyStore",
    "Limiter",
    "MemoryStore",
    "RedisStore",
    "StateStore",
    "clear_shared_stores",
    "open_state",
    "shared_memory_store",
]

STATE_ENV = "MAILCORE_STATE_URL"
#: What an idempotency key holds while its first send is in flight.
PENDING = "pending"
log = install_log_filter(logging.getLogger("mailcore"))
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One transport's breaker: ``failures`` in a row; ``opened_until`` (0 = closed) is when
    the open circuit lets a probe through; ``probe_until`` is when an in-flight probe's lease
    ends (so a crashed prober cannot block the transport for ever)."""

    failures: int = 0
    opened_until: float = 0.0
    probe_until: float = 0.0

    def status(self, now: float) -> str:
        """``closed``, ``open`` or ``half-open`` at time ``now``."""
        if not self.opened_until:
            return "closed"
        return "open" if now < self.opened_until else "half-open"


CLOSED = BreakerState()


@runtime_checkable
class Limiter(Protocol):
    """A rate limit on one transport, shared through a store."""

    def acquire(self) -> bool:
        """Take one slot; ``False`` when the limit is used up."""

    def peek(self) -> bool:
        """Whether a slot is free, without taking it."""

    def wait_time(self) -> float:
        """Seconds until a slot frees (0 when one is free)."""

    def remaining(self) -> int:
        """Slots left in the current window."""


class StateStore(Protocol):
    """Breaker and rate-limit state. Every method is atomic across the store's users."""

    def breaker(self, key: str) -> BreakerState:
        """The current state (no side effect)."""

    def breaker_acquire(self, key: str, now: float, lease: float) -> tuple[str, BreakerState]:
        """May a message go through now? ``("closed"|"probe"|"open", state)``. ``"probe"``
        claims the single half-open probe for ``lease`` seconds."""

    def breaker_failure(self, key: str, now: float, threshold: int, cooldown: float, trip: bool) -> BreakerState:
        """Count a failure; open for ``cooldown`` at ``threshold`` failures in a row, on ``trip``,
        or when a half-open probe failed. Returns the new state."""

    def breaker_success(self, key: str) -> None:
        """Close the breaker and forget its failures."""

    def breaker_release(self, key: str) -> None:
        """End a probe that reached no verdict (the route was skipped), so another may probe."""

    def limiter(self, key: str, rate: RateLimitItem) -> Limiter:
        """A :class:`Limiter` for ``rate`` on ``key``, shared by everyone using this store."""

    def describe(self) -> str:
        """Where the state lives, secrets masked."""


@runtime_checkable
class IdempotencyStore(Protocol):
    """Remembers idempotency keys for ``Mailer.send`` (memory and Redis stores implement it).

    ``idempotency_reserve`` is atomic: exactly one caller gets ``None`` (go ahead and send) for a
    key; the others get :data:`PENDING` or the first send's recorded result. A store that
    cannot be reached fails open (the message is sent), like breakers and limits.
    """

    def idempotency_reserve(self, key: str, ttl: float) -> str | None: ...

    def idempotency_record(self, key: str, value: str, ttl: float) -> None: ...

    def idempotency_forget(self, key: str) -> None: ...


class _LimitsLimiter:
    """A :class:`Limiter` over the ``limits`` library (moving window)."""

    def __init__(self, storage: Storage, key: str, rate: RateLimitItem, guard: Callable[..., Any]) -> None:
        from limits.strategies import MovingWindowRateLimiter

        self._strategy = MovingWindowRateLimiter(storage)
        self._rate = rate
        self._key = key
        self._guard = guard

    def acquire(self) -> bool:
        return bool(self._guard(lambda: self._strategy.hit(self._rate, self._key), True))

    def peek(self) -> bool:
        return bool(self._guard(lambda: self._strategy.test(self._rate, self._key), True))

    def wait_time(self) -> float:
        stats = self._guard(lambda: self._strategy.get_window_stats(self._rate, self._key), None)
        if stats is None or stats.remaining > 0:
            return 0.0
        return max(0.0, float(stats.reset_time) - time.time())

    def remaining(self) -> int:
        stats = self._guard(lambda: self._strategy.get_window_stats(self._rate, self._key), None)
        return int(stats.remaining) if stats is not None else int(self._rate.amount)


def _unguarded(operation: Callable[[], T], fallback: T) -> T:
    return operation()


class MemoryStore:
    """In-process state guarded by one lock; rate limits in ``limits``' memory storage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, BreakerState] = {}
        self._storage: Storage | None = None
        self._idempotency: dict[str, tuple[str, float]] = {}

    def breaker(self, key: str) -> BreakerState:
        return self._breakers.get(key, CLOSED)

    def breaker_acquire(self, key: str, now: float, lease: float) -> tuple[str, BreakerState]:
        state = self._breakers.get(key, CLOSED)
        if not state.opened_until:  # closed: the hot path, no lock needed for a read
            return "closed", state
        with self._lock:
            state = self._breakers.get(key, CLOSED)
            decision = _acquire_decision(state, now)
            if decision == "probe":
                state = BreakerState(state.failures, state.opened_until, now + lease)
                self._breakers[key] = state
            return decision, state

    def breaker_failure(self, key: str, now: float, threshold: int, cooldown: float, trip: bool) -> BreakerState:
        with self._lock:
            state = _after_failure(self._breakers.get(key, CLOSED), now, threshold, cooldown, trip)
            self._breakers[key] = state
            return state

    def breaker_success(self, key: str) -> None:
        if key in self._breakers:
            with self._lock:
                self._breakers.pop(key, None)

    def breaker_release(self, key: str) -> None:
        with self._lock:
            state = self._breakers.get(key)
            if state is not None and state.probe_until:
                self._breakers[key] = BreakerState(state.failures, state.opened_until, 0.0)

    def limiter(self, key: str, rate: RateLimitItem) -> Limiter:
        with self._lock:
            if self._storage is None:
                from limits.storage import MemoryStorage

                self._storage = MemoryStorage()
            storage = self._storage
        return _LimitsLimiter(storage, key, rate, _unguarded)

    def clear(self) -> None:
        """Forget every breaker and limit (tests)."""
        with self._lock:
            self._breakers.clear()
            self._idempotency.clear()
            if self._storage is not None:
                self._storage.reset()

    def describe(self) -> str:
        return "in-process memory"

    # -- idempotency (Mailer.send with Message.idempotency_key) ------------------------------

    def idempotency_reserve(self, key: str, ttl: float) -> str | None:
        """Reserve ``key`` for ``ttl`` seconds; ``None`` when reserved now, else what is stored
        (:data:`PENDING` while the first send is in flight, then its recorded result)."""
        now = time.time()
        with self._lock:
            found = self._idempotency.get(key)
            if found is not None and found[1] > now:
                return found[0]
            self._idempotency[key] = (PENDING, now + ttl)
            if len(self._idempotency) > 4096:  # drop stale keys now and then
                for stale in [k for k, (_, until) in self._idempotency.items() if until <= now]:
                    del self._idempotency[stale]
            return None

    def idempotency_record(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._idempotency[key] = (value, time.time() + ttl)

    def idempotency_forget(self, key: str) -> None:
        with self._lock:
            self._idempotency.pop(key, None)


def _acquire_decision(state: BreakerState, now: float) -> str:
    if not state.opened_until:
        return "closed"
    if now < state.opened_until or now < state.probe_until:
        return "open"
    return "probe"


def _after_failure(state: BreakerState, now: float, threshold: int, cooldown: float, trip: bool) -> BreakerState:
    failures = state.failures + 1
    if trip or failures >= threshold or state.opened_until:
        return BreakerState(failures, now + cooldown, 0.0)
    return BreakerState(failures, 0.0, 0.0)


# -- Redis ------------------------------------------------------------------------------------

_ACQUIRE = """
local s = redis.call('HMGET', KEYS[1], 'f', 'o', 'p')
local o = tonumber(s[2]) or 0
local now = tonumber(ARGV[1])
if o == 0 then return {'closed', s[1] or '0', '0', '0'} end
local p = tonumber(s[3]) or 0
if now < o or now < p then return {'open', s[1] or '0', s[2], s[3] or '0'} end
local lease = tostring(now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'p', lease)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'probe', s[1] or '0', s[2], lease}
"""

_FAILURE = """
local s = redis.call('HMGET', KEYS[1], 'f', 'o')
local f = (tonumber(s[1]) or 0) + 1
local o = tonumber(s[2]) or 0
local now = tonumber(ARGV[1])
if ARGV[4] == '1' or f >= tonumber(ARGV[2]) or o ~= 0 then
  o = now + tonumber(ARGV[3])
end
redis.call('HSET', KEYS[1], 'f', f, 'o', tostring(o), 'p', '0')
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {tostring(f), tostring(o)}
"""

_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'p', '0') end
return 0
"""

#: Breaker keys expire this long after their last change (a forgotten breaker is closed).
KEY_TTL = 7 * 24 * 3600
_WARN_EVERY = 30.0
#: Connect and read timeouts (seconds) unless the URL sets ``socket_timeout`` /
#: ``socket_connect_timeout``: a Redis that stops answering must not hang a send.
REDIS_TIMEOUT = 1.0
#: After a Redis error the store fails open without asking Redis for this many seconds, so an
#: outage costs one timeout, not one per send.
_RECHECK_AFTER = 5.0


class RedisStore:
    """Breakers and rate limits in Redis, shared by every process using the same URL.

    ``redis`` (and ``limits``' Redis storage) are imported when the store is built. Each
    breaker is one hash ``<prefix>:breaker:<transport name>``; changes run as Lua scripts so
    concurrent workers never lose a count. Rate limits use ``limits``' moving window under
    ``<prefix>:rate``.
    """

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "state=redis://… needs the redis package: pip install 'steadymail[redis]'"
            ) from None
        self.url, self.prefix = _split_prefix(url)
        self.shown = mask_url(url)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # options in the URL win over these defaults (redis-py's from_url)
        self.client = redis.Redis.from_url(self.url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._failure = self.client.register_script(_FAILURE)
        self._release = self.client.register_script(_RELEASE)
        self._storage: Storage | None = None
        self._lock = threading.Lock()
        self._last_warning = 0.0
        self._down_until = 0.0

    def _key(self, key: str) -> str:
        return f"{self.prefix}:breaker:{key}"

    def _guard(self, operation: Callable[[], T], fallback: T) -> T:
        """Run a Redis operation; on a connection problem, warn (rarely) and fail open, and
        keep failing open without waiting on Redis for :data:`_RECHECK_AFTER` seconds."""
        if self._down_until and time.monotonic() < self._down_until:
            return fallback
        try:
            return operation()
        except self._errors as error:
            now = time.monotonic()
            self._down_until = now + _RECHECK_AFTER
            if now - self._last_warning > _WARN_EVERY:
                self._last_warning = now
                log.warning("state store %s unavailable (%s); breakers and limits fail open", self.shown, error)
            return fallback

    def breaker(self, key: str) -> BreakerState:
        empty: list[Any] = [None, None, None]
        raw: list[Any] = self._guard(lambda: list(self.client.hmget(self._key(key), "f", "o", "p")), empty)
        return BreakerState(int(raw[0] or 0), float(raw[1] or 0), float(raw[2] or 0))

    def breaker_acquire(self, key: str, now: float, lease: float) -> tuple[str, BreakerState]:
        raw = self._guard(lambda: self._acquire(keys=[self._key(key)], args=[repr(now), repr(lease), KEY_TTL]), None)
        if raw is None:
            return "closed", CLOSED
        decision = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        return decision, BreakerState(int(raw[1]), float(raw[2]), float(raw[3]))

    def breaker_failure(self, key: str, now: float, threshold: int, cooldown: float, trip: bool) -> BreakerState:
        args: list[str | int] = [repr(now), threshold, repr(cooldown), "1" if trip else "0", KEY_TTL]
        raw = self._guard(lambda: self._failure(keys=[self._key(key)], args=args), None)
        if raw is None:
            return CLOSED
        return BreakerState(int(raw[0]), float(raw[1]), 0.0)

    def breaker_success(self, key: str) -> None:
        self._guard(lambda: self.client.delete(self._key(key)), 0)

    def breaker_release(self, key: str) -> None:
        # only an existing breaker: a plain HSET would recreate a closed one without its TTL
        self._guard(lambda: self._release(keys=[self._key(key)]), 0)

    def limiter(self, key: str, rate: RateLimitItem) -> Limiter:
        with self._lock:
            if self._storage is None:
                from limits.storage import RedisStorage

                self._storage = RedisStorage(
                    self.url, connection_pool=self.client.connection_pool, key_prefix=f"{self.prefix}:rate"
                )
            storage = self._storage
        return _LimitsLimiter(storage, key, rate, self._guard)

    def clear(self) -> None:
        """Delete every key under this store's prefix (tests, resets)."""
        for name in self.client.scan_iter(match=f"{self.prefix}:*", count=500):
            self.client.delete(name)

    def describe(self) -> str:
        return f"redis {self.shown} (prefix {self.prefix!r})"

    # -- idempotency: ``<prefix>:idem:<key>``, SET NX with a TTL; fails open like the rest ----

    def idempotency_reserve(self, key: str, ttl: float) -> str | None:
        name = f"{self.prefix}:idem:{key}"
        millis = max(1, int(ttl * 1000))

        def reserve() -> str | None:
            if self.client.set(name, PENDING, nx=True, px=millis):
                return None
            raw = self.client.get(name)
            if raw is None:  # expired between the two calls
                return None if self.client.set(name, PENDING, nx=True, px=millis) else PENDING
            return raw.decode() if isinstance(raw, bytes) else str(raw)

        return self._guard(reserve, None)

    def idempotency_record(self, key: str, value: str, ttl: float) -> None:
        self._guard(lambda: self.client.set(f"{self.prefix}:idem:{key}", value, px=max(1, int(ttl * 1000))), None)

    def idempotency_forget(self, key: str) -> None:
        self._guard(lambda: self.client.delete(f"{self.prefix}:idem:{key}"), 0)


def _split_prefix(url: str) -> tuple[str, str]:
    """Take our own ``prefix`` parameter off a Redis URL."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in params if name == "prefix"), "mailcore") or "mailcore"
    query = urlencode([(name, value) for name, value in params if name != "prefix"])
    return urlunsplit(parts._replace(query=query)), prefix


_named: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


def shared_memory_store(name: str = "default") -> MemoryStore:
    """The process-wide in-memory store called ``name`` (``state="memory://NAME"``)."""
    with _named_lock:
        store = _named.get(name)
        if store is None:
            store = _named[name] = MemoryStore()
        return store


def clear_shared_stores() -> None:
    """Reset every process-wide memory store (between tests)."""
    with _named_lock:
        stores = list(_named.values())
    for store in stores:
        store.clear()


def open_state(state: str | StateStore | None = None) -> StateStore:
    """The store for ``state=`` (a URL, a store, or ``None`` for ``MAILCORE_STATE_URL`` or a
    private memory store)."""
    if state is None:
        state = os.environ.get(STATE_ENV, "").strip() or None
        if state is None:
            return MemoryStore()
    if not isinstance(state, str):
        return state
    scheme, _, rest = state.partition("://")
    scheme = scheme.lower()
    if scheme == "memory":
        name = rest.strip("/")
        return shared_memory_store(name) if name else MemoryStore()
    if scheme in ("redis", "rediss", "unix"):
        return RedisStore(state)
    raise ConfigurationError(f"state={mask_url(state)!r}: use memory://, memory://NAME or redis://host:6379/0")
