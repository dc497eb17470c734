"""Process-wide reuse of Mailers, so one ``send_mail()`` per request does not pay a connection.

Most web apps send one message per request: Django's ``send_mail()`` builds a backend, opens a
connection (TCP, TLS, EHLO, AUTH; or TLS to an HTTP API), sends, and closes it again. Here a
:class:`SharedMailer` is kept per *configuration* (URL, default sender, policy options) for the
whole process, open, so its transports' pooled sessions and keep-alive connections serve the
next call too. Safety rules:

* **keyed by a hash**: the key is a SHA-256 of the configuration, so no secret of the URL is
  kept in clear in the registry; options that are not plain data (a clock function, a
  Transport object) make a configuration unshareable, and those calls build their own Mailer;
* **health-checked**: the transports check a reused connection before using it (SMTP sends NOOP
  after :data:`mailcore_smtp.transport.IDLE_PROBE` seconds idle and reconnects a stale session
  before any message byte is sent; HTTP pools drop keep-alive connections the peer closed);
* **idle-expired**: a Mailer unused for ``idle_timeout`` seconds (default 60, below the 300 s
  most SMTP servers allow an idle client) is closed (SMTP QUIT) and forgotten, by a daemon
  thread and on every lookup;
* **thread-safe**: lookups hold a lock; the transports' pools are thread-safe;
* **fork-safe**: in a child process every inherited Mailer is forgotten without a word on its
  connections (a QUIT from the child would end the parent's session); the child builds its own;
* **closed at exit** (``atexit``), or earlier with :func:`close_all`.

``MAILCORE_REUSE=0`` in the environment turns reuse off (every call builds and closes its own
Mailer, as before). ``memory://`` and ``console://`` alone are never shared: they hold no
connection, and their scripted failures must apply per call.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Self

from mailcore.mailer import Mailer
from mailcore.redact import Secret, reveal

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "REUSE_ENV",
    "SharedMailer",
    "SharedMailers",
    "close_all",
    "configuration_key",
    "reuse_enabled",
    "shared_mailer",
]

log = logging.getLogger("mailcore")
REUSE_ENV = "MAILCORE_REUSE"
#: Seconds a shared Mailer may sit unused before its connections are closed.
DEFAULT_IDLE_TIMEOUT = 60.0
#: At most this many configurations are kept; the least recently used one is closed first.
DEFAULT_MAX_ENTRIES = 32


class SharedMailer(Mailer):
    """A Mailer owned by a :class:`SharedMailers` registry: already open, shared by many callers.

    ``open()``/``close()`` (and ``with``) do nothing, so code written for a private Mailer (or
    Django's backend closing after each ``send_messages``) cannot end the connections other
    callers share. They end on idle expiry, at exit, or with :func:`close_all`.
    """

    def open(self) -> None:
        """Nothing to do: a shared Mailer is opened once by its registry."""

    def close(self) -> None:
        """Nothing to do: the registry closes shared connections (idle expiry, exit)."""

    def __enter__(self) -> Self:
        return self

    def _release(self) -> None:
        """Really close the transports (QUIT SMTP sessions, close keep-alive sockets)."""
        try:
            Mailer.close(self)
        except Exception:  # closing is best effort; a dead peer must not break the caller
            log.debug("closing shared %r failed", self, exc_info=True)


@dataclasses.dataclass
class _Entry:
    mailer: SharedMailer
    last_used: float


class SharedMailers:
    """A registry of :class:`SharedMailer` objects, one per configuration key.

    :param idle_timeout: seconds unused after which a Mailer is closed and forgotten.
    :param clock: monotonic seconds (injected by tests).
    :param reaper: run a daemon thread that expires idle Mailers even when nobody calls
        :meth:`get` (tests turn it off and call :meth:`expire`).
    :param max_entries: configurations kept at once; the least recently used goes first.
    """

    def __init__(
        self,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        reaper: bool = True,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if idle_timeout <= 0 or max_entries < 1:
            raise ValueError("idle_timeout must be positive and max_entries at least 1")
        self.idle_timeout = idle_timeout
        self.max_entries = max_entries
        self._clock = clock
        self._use_reaper = reaper
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._reaper: threading.Thread | None = None
        self._wake = threading.Event()
        self.built = 0  # Mailers built over the registry's life (diagnostics, benchmarks)
        _REGISTRIES.add(self)

    def get(self, key: str, build: Callable[[], SharedMailer]) -> SharedMailer:
        """The shared Mailer for ``key``, built (and opened) with ``build()`` the first time."""
        now = self._clock()
        stale = self._take_expired(now)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.last_used = now
                self._entries[key] = self._entries.pop(key)  # most recently used last
                mailer = entry.mailer
            else:
                mailer = None
        _release_all(stale)
        if mailer is not None:
            return mailer
        fresh = build()
        Mailer.open(fresh)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:  # we won any race: keep ours
                self._entries[key] = entry = _Entry(fresh, now)
                self.built += 1
                evicted = self._evict_locked()
                self._start_reaper_locked()
            else:
                evicted = [fresh]  # another thread built the same one first
        _release_all(evicted)
        return entry.mailer

    def expire(self) -> int:
        """Close and forget every Mailer unused for ``idle_timeout``; return how many."""
        stale = self._take_expired(self._clock())
        _release_all(stale)
        return len(stale)

    def close_all(self) -> None:
        """Close and forget every shared Mailer (they are rebuilt on demand)."""
        with self._lock:
            mailers = [entry.mailer for entry in self._entries.values()]
            self._entries.clear()
            self._wake.set()
        _release_all(mailers)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- internals -------------------------------------------------------------------------

    def _take_expired(self, now: float) -> list[SharedMailer]:
        with self._lock:
            old = [key for key, entry in self._entries.items() if now - entry.last_used >= self.idle_timeout]
            return [self._entries.pop(key).mailer for key in old]

    def _evict_locked(self) -> list[SharedMailer]:
        evicted = []
        while len(self._entries) > self.max_entries:
            oldest = next(iter(self._entries))
            evicted.append(self._entries.pop(oldest).mailer)
        return evicted

    def _start_reaper_locked(self) -> None:
        if not self._use_reaper or (self._reaper is not None and self._reaper.is_alive()):
            return
        self._wake.clear()
        self._reaper = threading.Thread(
            target=_reap, args=(weakref.ref(self), self._wake), name="mailcore-shared-reaper", daemon=True
        )
        self._reaper.start()

    def _forget_after_fork(self) -> None:
        """In a fork child: drop every inherited Mailer without talking to its peers.

        The sockets are the parent's too: a QUIT or TLS close from here would end the parent's
        sessions. The child's copies are closed by the garbage collector (which only closes the
        child's file descriptors) and it builds its own Mailers on demand. Locks and the reaper
        thread did not survive the fork either, so both are recreated.
        """
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._reaper = None
        self._entries = {}


def _reap(registry_ref: weakref.ref[SharedMailers], wake: threading.Event) -> None:
    """Daemon loop: expire idle Mailers until the registry is empty, closed or collected."""
    while True:
        registry = registry_ref()
        if registry is None:
            return
        interval = registry.idle_timeout / 2
        del registry
        if wake.wait(interval):
            return
        registry = registry_ref()
        if registry is None:
            return
        registry.expire()
        if not len(registry):
            return
        del registry


def _release_all(mailers: list[SharedMailer]) -> None:
    for mailer in mailers:
        mailer._release()


# -- configuration keys ------------------------------------------------------------------------


class _Unshareable(Exception):
    pass


def configuration_key(url: str | Secret, from_email: str | None, options: Mapping[str, Any]) -> str | None:
    """A SHA-256 hex digest of one configuration, or ``None`` when it must not be shared.

    Only plain data is hashed (strings, numbers, booleans, ``None``, secrets, lists, tuples,
    dicts and frozen dataclasses of these). Anything else (a function, a Transport, a clock)
    could differ while printing the same, so such a configuration is not shared.
    """
    try:
        canonical = _canonical((url, from_email, dict(options)))
    except _Unshareable:
        return None
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(value: object) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return "s" + repr(value)
    if isinstance(value, Secret):
        return "S" + repr(value.reveal())  # hashed, never stored
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(type(value), "__dataclass_params__", None)
        if params is not None and params.frozen:
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return f"{type(value).__module__}.{type(value).__qualname__}" + _canonical(fields)
    raise _Unshareable(type(value).__name__)


# -- the process-wide registry -----------------------------------------------------------------

_REGISTRIES: weakref.WeakSet[SharedMailers] = weakref.WeakSet()
_default = SharedMailers()


def reuse_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``MAILCORE_REUSE`` is ``0``/``false``/``no``/``off``."""
    value = (os.environ if environ is None else environ).get(REUSE_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def shared_mailer(url: str | Secret, *, from_email: str | None = None, **options: Any) -> Mailer:
    """The process-wide Mailer for this configuration; a private one when it cannot be shared.

    The shared Mailer ignores ``close()``; a private one (reuse off, or options that are not
    plain data) must be closed by the caller as usual, which ``close()`` on either does safely.
    """
    if not reuse_enabled() or not _has_connections(reveal(url)):
        key = None
    elif options:
        key = configuration_key(url, from_email, options)
    else:  # the send_mail() path: two strings, hashed directly
        text = f"{reveal(url)}\0{from_email}"
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if key is None:
        return Mailer(url, from_email=from_email, **options)
    return _default.get(key, lambda: SharedMailer(url, from_email=from_email, **options))


#: Transports with no connection to keep: not worth sharing, and a scripted ``memory://?fail=2``
#: must fail anew for each call, as tests written for per-call Mailers expect.
LOCAL_SCHEMES = frozenset({"memory", "console"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def _has_connections(url: str) -> bool:
    """True when the URL (or composite expression) names a transport other than a local one."""
    return any(scheme.lower() not in LOCAL_SCHEMES for scheme in _SCHEME.findall(url))


def close_all() -> None:
    """Close every process-wide shared Mailer now (they are rebuilt on the next send)."""
    _default.close_all()


def _after_fork_in_child() -> None:
    for registry in list(_REGISTRIES):
        registry._forget_after_fork()


def _close_at_exit() -> None:
    for registry in list(_REGISTRIES):
        registry.close_all()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
