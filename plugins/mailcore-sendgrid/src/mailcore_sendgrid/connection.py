"""A small, thread-safe pool of persistent HTTP/1.1 connections to one host (stdlib only).

Why not the official client: ``python_http_client`` (under ``sendgrid.SendGridAPIClient``) uses
``urllib.request``, which opens a new TCP + TLS connection for every request and takes no CA
bundle. This pool keeps connections alive across sends and threads, applies one deadline to the
whole attempt, never retries, and reports *how far* a failed request got so the classifier can
tell "nothing was sent" from "the provider may have it".
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ConnectionPool", "HTTPAnswer", "RequestFailed"]


@dataclass(frozen=True, slots=True)
class HTTPAnswer:
    """An HTTP response: lower-cased header names; ``body`` is ``None`` when it could not be read."""

    status: int
    headers: dict[str, str]
    body: bytes | None


class RequestFailed(Exception):
    """No HTTP answer arrived. ``body_sent`` says whether the full request had been written."""

    def __init__(self, error: BaseException, *, body_sent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.body_sent = body_sent


class ConnectionPool:
    """Keeps up to ``max_idle`` idle keep-alive connections to ``base_url``'s host."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 32,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http(s):// URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.ssl_context = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> HTTPAnswer:
        """Send exactly one request and read its answer within ``timeout`` seconds overall."""
        deadline = time.monotonic() + self.timeout
        connection = self._acquire()
        reusable = False
        try:
            try:
                if connection.sock is None:
                    connection.connect()
                _set_deadline(connection, deadline)
                connection.request(method, self.base_path + path, body=body, headers=headers)
            except (OSError, http.client.HTTPException) as error:
                raise RequestFailed(error, body_sent=False) from error
            try:
                _set_deadline(connection, deadline)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise RequestFailed(error, body_sent=True) from error
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
            try:
                _set_deadline(connection, deadline)
                data: bytes | None = response.read()
                reusable = not response.will_close
            except (OSError, http.client.HTTPException):
                data = None
            return HTTPAnswer(response.status, answer_headers, data)
        finally:
            self._release(connection, reusable)

    def close(self) -> None:
        """Close every idle connection; the pool stays usable and reconnects on demand."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _acquire(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._new_connection()
            if not _dropped(connection):
                return connection
            connection.close()

    def _release(self, connection: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(connection)
                    return
        connection.close()

    def _new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


def _set_deadline(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Give the socket only the time left in this attempt."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the attempt's deadline passed")
    if connection.sock is not None:
        connection.sock.settimeout(remaining)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """True when an idle keep-alive connection was closed by the peer (readable means EOF)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
