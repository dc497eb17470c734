"""Deadlines, name resolution and happy-eyeballs connects, all bounded by a wall clock.

A :class:`Deadline` is the per-attempt wall-clock budget; every blocking call below asks it for
the time left and never waits longer. :func:`connect` resolves A and AAAA records and races the
addresses RFC 8305 style (families interleaved, the next address started 250 ms after the
previous one unless that one already failed); the first TCP connection wins. When every address
fails, :class:`ConnectFailure` lists each address and why it failed.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

__all__ = [
    "Address",
    "ConnectFailure",
    "Deadline",
    "DeadlineReached",
    "Resolver",
    "connect",
    "interleave",
    "is_ip_literal",
    "resolve",
    "system_resolver",
]

#: One resolved address: (socket family, sockaddr tuple).
Address = tuple[int, tuple[Any, ...]]
#: ``resolver(host, port, family) -> [(family, sockaddr), ...]``; family is AF_UNSPEC/INET/INET6.
Resolver = Callable[[str, int, int], Sequence[Address]]

STAGGER = 0.25  # RFC 8305 "Connection Attempt Delay"
FAMILIES = {"auto": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


class DeadlineReached(TimeoutError):
    """The attempt's wall-clock deadline passed."""


class Deadline:
    """A wall-clock budget for one attempt (``time.monotonic`` based)."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def budget(self, limit: float | None = None) -> float:
        """Seconds the next blocking call may take: the time left, capped by ``limit``.

        Raises :class:`DeadlineReached` when no time is left.
        """
        left = self.end - time.monotonic()
        if left <= 0:
            raise DeadlineReached(f"the {self.seconds:g} s deadline passed")
        return left if limit is None or limit > left else limit

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


class ConnectFailure(OSError):
    """No address could be reached; ``tried`` holds ``(address, reason)`` for each one.

    ``timed_out`` is true when an address (or the DNS lookup) hung instead of refusing: the
    transport then reports a timeout, which the policy answers by failing over.
    """

    def __init__(
        self, host: str, port: int, tried: Sequence[tuple[str, str]], *, dns: bool = False, timed_out: bool = False
    ) -> None:
        self.host = host
        self.port = port
        self.tried = tuple(tried)
        self.dns = dns
        self.timed_out = timed_out  # an address (or DNS) hung rather than refused
        if dns:
            text = f"cannot resolve {host}: {tried[0][1] if tried else 'no address'}"
        else:
            listing = "; ".join(f"{addr} {why}" for addr, why in self.tried) or "no address to try"
            text = f"cannot connect to {host} port {port}: {listing}"
        super().__init__(text)


# -- resolution ----------------------------------------------------------------------------------


def system_resolver(host: str, port: int, family: int) -> list[Address]:
    """A and/or AAAA records of ``host`` through the system resolver (``getaddrinfo``)."""
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    return [(info[0], info[4]) for info in infos]


_dns_pool: ThreadPoolExecutor | None = None
_dns_lock = threading.Lock()


def _dns_executor() -> ThreadPoolExecutor:
    global _dns_pool
    with _dns_lock:
        if _dns_pool is None:
            _dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mailcore-smtp-dns")
        return _dns_pool


def resolve(host: str, port: int, family: str, deadline: Deadline, resolver: Resolver | None = None) -> list[Address]:
    """Resolve ``host`` within the deadline; ordered for happy eyeballs, duplicates removed.

    ``getaddrinfo`` cannot be interrupted, so the system resolver runs on a worker thread and
    we stop waiting for it when the deadline passes.
    """
    af = FAMILIES[family]
    literal = _literal(host, port)
    try:
        if literal is not None:
            found: Sequence[Address] = [literal]
        elif resolver is not None:
            found = resolver(host, port, af)
        else:
            found = _dns_executor().submit(system_resolver, host, port, af).result(timeout=deadline.budget())
    except FutureTimeout:  # also DeadlineReached: both are TimeoutError
        raise ConnectFailure(
            host, port, [(host, "DNS lookup did not answer before the deadline")], dns=True, timed_out=True
        ) from None
    except (OSError, UnicodeError) as error:  # gaierror; UnicodeError for a label the IDNA codec refuses
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConnectFailure(host, port, [(host, reason)], dns=True) from None
    wanted = [a for a in found if af == socket.AF_UNSPEC or a[0] == af]
    if not wanted:
        raise ConnectFailure(host, port, [(host, f"no {family} address")], dns=True)
    return interleave(wanted)


def is_ip_literal(host: str) -> bool:
    """True for ``127.0.0.1``, ``::1`` or ``[::1]``: no DNS lookup is needed."""
    return _literal(host, 0) is not None


def _literal(host: str, port: int) -> Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6:
        return (socket.AF_INET6, (str(ip), port, 0, 0))
    return (socket.AF_INET, (str(ip), port))


def interleave(addresses: Sequence[Address]) -> list[Address]:
    """Deduplicate and alternate families, starting with the resolver's first choice (RFC 8305)."""
    seen: set[tuple[Any, ...]] = set()
    unique = [a for a in addresses if not (a[1][:2] in seen or seen.add(a[1][:2]))]  # type: ignore[func-returns-value]
    if not unique:
        return []
    first = unique[0][0]
    primary = [a for a in unique if a[0] == first]
    other = [a for a in unique if a[0] != first]
    out: list[Address] = []
    for i in range(max(len(primary), len(other))):
        out.extend(group[i] for group in (primary, other) if i < len(group))
    return out


def show(address: Address) -> str:
    """``127.0.0.1`` or ``[::1]`` for error texts and check output."""
    ip = address[1][0]
    return f"[{ip}]" if address[0] == socket.AF_INET6 else str(ip)


# -- connecting ----------------------------------------------------------------------------------


def connect(
    host: str,
    port: int,
    addresses: Sequence[Address],
    *,
    deadline: Deadline,
    connect_timeout: float,
    stagger: float = STAGGER,
) -> tuple[socket.socket, Address]:
    """Race TCP connects to ``addresses``; return the first connected socket and its address.

    Each address gets at most ``connect_timeout``; all of them together at most the deadline.
    """
    race = _Race(host, port, list(addresses), deadline, connect_timeout, stagger)
    return race.run()


class _Race:
    def __init__(
        self,
        host: str,
        port: int,
        queue: list[Address],
        deadline: Deadline,
        connect_timeout: float,
        stagger: float,
    ) -> None:
        self.host, self.port, self.queue = host, port, queue
        self.deadline, self.connect_timeout, self.stagger = deadline, connect_timeout, stagger
        self.tried: list[tuple[str, str]] = []
        self.pending: dict[socket.socket, tuple[Address, float]] = {}
        self.selector = selectors.DefaultSelector()
        self.next_start = time.monotonic()
        self.timed_out = False

    def run(self) -> tuple[socket.socket, Address]:
        try:
            while self.queue or self.pending:
                now = time.monotonic()
                if now >= self.deadline.end:
                    self._give_up_pending(f"not connected before the {self.deadline.seconds:g} s deadline")
                    break
                if self.queue and (not self.pending or now >= self.next_start):
                    won = self._start(self.queue.pop(0))
                    if won is not None:
                        return won
                    continue
                won = self._wait(now)
                if won is not None:
                    return won
        finally:
            for sock in self.pending:  # only left here when an exception interrupted the race
                sock.close()
            self.selector.close()
        raise ConnectFailure(self.host, self.port, self.tried, timed_out=self.timed_out)

    def _start(self, address: Address) -> tuple[socket.socket, Address] | None:
        try:
            sock = socket.socket(address[0], socket.SOCK_STREAM)
        except OSError as error:
            self.tried.append((show(address), error.strerror or str(error)))
            return None
        sock.setblocking(False)
        try:
            code = sock.connect_ex(address[1])
        except OSError as error:  # e.g. an address the socket family cannot take
            sock.close()
            self.tried.append((show(address), error.strerror or str(error)))
            return None
        if code == 0:
            return self._won(sock, address)
        if code not in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            sock.close()
            self.tried.append((show(address), os.strerror(code)))
            return None
        now = time.monotonic()
        self.pending[sock] = (address, now)
        self.selector.register(sock, selectors.EVENT_WRITE)
        self.next_start = now + self.stagger
        return None

    def _wait(self, now: float) -> tuple[socket.socket, Address] | None:
        limits = [self.deadline.end - now]
        limits.extend(started + self.connect_timeout - now for _, started in self.pending.values())
        if self.queue:
            limits.append(self.next_start - now)
        for key, _ in self.selector.select(max(0.0, min(limits))):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            address, _started = self._forget(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                return self._won(sock, address)
            sock.close()
            self.tried.append((show(address), os.strerror(code)))
            self.next_start = time.monotonic()  # a failure starts the next address at once
        self._expire(time.monotonic())
        return None

    def _expire(self, now: float) -> None:
        for sock, (address, started) in list(self.pending.items()):
            if now - started >= self.connect_timeout:
                self.timed_out = True
                self._forget(sock)
                sock.close()
                self.tried.append((show(address), f"timed out after {self.connect_timeout:g} s"))
                self.next_start = now

    def _forget(self, sock: socket.socket) -> tuple[Address, float]:
        self.selector.unregister(sock)
        return self.pending.pop(sock)

    def _give_up_pending(self, reason: str) -> None:
        self.timed_out = True
        for sock in list(self.pending):
            address, _ = self._forget(sock)
            sock.close()
            self.tried.append((show(address), reason))
        for address in self.queue:
            self.tried.append((show(address), "not tried: " + reason))
        self.queue.clear()

    def _won(self, sock: socket.socket, address: Address) -> tuple[socket.socket, Address]:
        for other in list(self.pending):
            self._forget(other)
            other.close()
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address
