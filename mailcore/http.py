"""Provider-neutral parts of reading an HTTP API's answer, shared by the HTTP transports.

Each plugin still owns what its provider's status codes and error texts mean (see its
``errors.py``); what is generic HTTP lives here:

* :func:`retry_after_seconds` reads the standard ``Retry-After`` header and the common
  ``X-RateLimit-Reset`` header, so a 429 becomes ``RateLimited(retry_after=…)``;
* :func:`api_base_url` picks the API root from a ``region`` or an ``endpoint_url`` override;
* :func:`classify_connection_failure` maps a request that got no answer at all (refused,
  timed out, reset, untrusted certificate) to the core error, honouring whether the request
  body had already been written (then the provider may have the message).

Example, in a plugin's ``classify_response``::

    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers, now=now))

* :class:`ConnectionPool` is the one HTTP/1.1 client of the HTTP transports (SendGrid and
  Mailgun call it, SES routes botocore's requests through it): keep-alive connections, exactly
  one request per call (never a retry), every attempt bounded by the wall clock — connect, TLS,
  request and answer together take at most ``min(timeout, time left before the message
  deadline)`` (see :mod:`mailcore.budget`), however slowly a server drips its answer — and
  answers read with a size cap. A failed request says whether the whole request had been
  written (:class:`RequestFailed`), which decides "nothing sent" versus "maybe sent".

Standard library only: importing this module is cheap.
"""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from mailcore.budget import arm_timeout, attempt_seconds
from mailcore.config import mask_endpoint
from mailcore.errors import ConfigurationError, ConnectionFailed, SendError, SendTimeout, TransportRejected
from mailcore.redact import Secret, mask_secrets
from mailcore.validate import check_endpoint_url

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_BODY",
    "ConnectionPool",
    "HTTPAnswer",
    "RequestFailed",
    "api_base_url",
    "classify_connection_failure",
    "retry_after_seconds",
]

#: Bytes of an answer's body that are read; provider ids and error texts are far smaller.
MAX_BODY = 64 * 1024
#: Default sub-bound, in seconds, on connecting (TCP and TLS) within an attempt.
CONNECT_TIMEOUT = 10.0

#: An ``X-RateLimit-Reset`` above this is in milliseconds since the epoch, not seconds.
_EPOCH_MILLISECONDS = 1e11


def api_base_url(
    scheme: str, *, region: str, regions: Mapping[str, str], endpoint_url: str | None, insecure_http: bool = False
) -> str:
    """The API root (no trailing ``/``) for ``region``, or ``endpoint_url`` when given.

    ``regions`` maps each region name to its root URL; ``endpoint_url`` points the transport at
    a test server or a proxy instead. ``scheme`` (``"sendgrid"``) names the transport in the
    :class:`~mailcore.errors.ConfigurationError` raised for an unknown region or a URL that is
    not ``http://`` or ``https://``, or plain ``http://`` to a host that is not loopback without
    ``insecure_http`` (:func:`mailcore.validate.check_endpoint_url`).
    """
    if region not in regions:
        raise ConfigurationError(f"{scheme}:// region={region!r}; choose one of {', '.join(regions)}")
    base_url = (endpoint_url or regions[region]).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ConfigurationError(
            f"{scheme}:// endpoint_url={mask_endpoint(base_url)!r} must start with http:// or https://"
        )
    return check_endpoint_url(scheme, base_url, insecure_http=insecure_http)


def retry_after_seconds(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when the answer does not say.

    ``headers`` have lower-case names. ``Retry-After`` wins (delay in seconds, or an HTTP date);
    then ``X-RateLimit-Reset`` (an epoch time in seconds or milliseconds; zero or unreadable
    means unknown). ``now`` is the current epoch time in seconds. Never negative.
    """
    raw = (headers.get("retry-after") or "").strip()
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        if value > _EPOCH_MILLISECONDS:
            value /= 1000.0
        if value:
            return max(0.0, value - now)
    return None


def classify_connection_failure(
    error: BaseException,
    *,
    body_sent: bool,
    provider: str,
    secrets: Iterable[str | Secret | None] = (),
) -> SendError:
    """Map a request to ``provider`` (a display name, e.g. ``"SendGrid"``) that got no answer.

    An untrusted certificate is configuration (``TransportRejected``). Before the body was sent
    the provider cannot have the message: a refusal or reset is ``ConnectionFailed``, a hang is
    ``SendTimeout(maybe_sent=False)`` (the policy fails over). Once ``body_sent`` is true, a
    timeout, a reset or an unreadable answer (garbage status line, too many headers) is
    ``SendTimeout(maybe_sent=True)``: never a blind retry. Secrets are masked in every text.
    """
    detail = mask_secrets(f"{type(error).__name__}: {error}", tuple(secrets))[:500]
    if isinstance(error, ssl.SSLCertVerificationError):
        return TransportRejected(f"{provider}: TLS verification failed: {detail} (set cafile=… to trust a CA)")
    if body_sent:
        if isinstance(error, TimeoutError):
            return SendTimeout(
                f"no complete answer from {provider} within the attempt's time ({detail}); "
                "the request was sent, so it may have been accepted",
                maybe_sent=True,
            )
        if isinstance(error, http.client.HTTPException | ValueError):
            return SendTimeout(
                f"{provider}'s answer was unreadable ({detail}); the request was sent, so it may have been accepted",
                maybe_sent=True,
            )
        return SendTimeout(f"connection lost after the request was sent: {detail}", maybe_sent=True)
    if isinstance(error, TimeoutError):
        # a hang before hand-over: nothing was sent; the policy fails over instead of waiting again
        return SendTimeout(f"{provider} did not take the request in time: {detail}", maybe_sent=False)
    return ConnectionFailed(f"cannot reach {provider}: {detail}")


# -- the shared HTTP/1.1 client ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HTTPAnswer:
    """An HTTP answer: lower-cased header names; ``body`` is ``None`` when it could not be read.

    ``body`` holds at most :data:`MAX_BODY` bytes; ``truncated`` says the server sent more.
    """

    status: int
    headers: dict[str, str]
    body: bytes | None
    truncated: bool = False


class RequestFailed(Exception):
    """No (readable) HTTP answer arrived. ``body_sent`` says whether the full request was written."""

    def __init__(self, error: BaseException, *, body_sent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.body_sent = body_sent


class AttemptTimeout(TimeoutError):
    """The attempt's wall-clock time ran out."""


class _DeadlineSocket:
    """A socket whose every write and read gets only the time left before ``end``.

    A per-``recv`` timeout would let a server dripping a byte at a time hold an attempt forever;
    here each ``recv_into`` and ``sendall`` is given what remains of the attempt, so the attempt
    as a whole ends on time: within :data:`~mailcore.budget.TIMEOUT_SLACK` (20 ms) of ``end``.
    The socket's timeout is set only when it is more than that slack away from the time left
    (:func:`~mailcore.budget.arm_timeout`), so a keep-alive connection serving request after
    request mostly keeps the timeout it has (no system call, no GIL hand-off per read and
    write). The bound: no read or write waits past ``end + TIMEOUT_SLACK``; a read whose timeout
    fired while time was still left (the kept timeout was up to the slack shorter) waits once
    more for exactly what is left instead of failing early; a write blocked for the whole
    attempt may give up at most the slack before ``end``.
    """

    def __init__(self, sock: socket.socket, end: float) -> None:
        self.sock = sock
        self.end = end

    def _left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise AttemptTimeout("the attempt's time ran out")
        return left

    def sendall(self, data: bytes | memoryview) -> None:
        arm_timeout(self.sock, self._left())
        self.sock.sendall(data)

    def recv_into(self, buffer: memoryview) -> int:
        arm_timeout(self.sock, self._left())
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            # the kept timeout may have been up to TIMEOUT_SLACK shorter than the time left:
            # wait for exactly what is left (AttemptTimeout here when nothing is)
            self.sock.settimeout(self._left())
            return self.sock.recv_into(buffer)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._sock.recv_into(buffer)


#: Longest status or header line read, and most header lines (the limits ``http.client`` uses).
_MAX_LINE = 65536
_MAX_HEADERS = 100
#: A body up to this size goes out in the same ``sendall`` as the head (one TLS record, one
#: syscall); a larger one is written after it from a ``memoryview``, never copied.
_JOIN_BODY = 64 * 1024
_LEGAL_HEADER_NAME = re.compile(rb"[^:\s][^:\r\n]*").fullmatch
_ILLEGAL_HEADER_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search
_ILLEGAL_TARGET = re.compile(r"[\x00-\x20\x7f]").search
_METHOD = re.compile(r"[A-Z]+").fullmatch


def header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines for ``headers``, refused when a name or value could inject.

    The same rules ``http.client`` applies: a name is a token without ``:`` or white space, a
    value has no bare CR or LF (a header-injection attempt through a configured API key fails
    here with ``ValueError`` before anything is written). Values are Latin-1, as in HTTP/1.1.
    """
    lines = []
    for name, value in headers.items():
        raw_name = name.encode("ascii")
        raw_value = value.encode("latin-1")
        if not _LEGAL_HEADER_NAME(raw_name):
            raise ValueError(f"invalid HTTP header name {name!r}")
        if _ILLEGAL_HEADER_VALUE(raw_value):
            raise ValueError(f"invalid HTTP header value for {name!r} (CR or LF)")
        lines.append(b"%s: %s\r\n" % (raw_name, raw_value))
    return b"".join(lines)


class _Connection:
    """One HTTP/1.1 keep-alive connection, connected within a wall clock.

    A request is written in one ``sendall`` (head and body together, for bodies up to
    :data:`_JOIN_BODY`); the answer is read through a deadline socket by :func:`_read_head` and
    :meth:`read_body`, strict like ``http.client`` (same line and header limits, same exception
    types) but without building an ``email.message.Message`` for the headers.
    """

    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None, connect_timeout: float) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.end = 0.0
        self.sock: _DeadlineSocket | None = None

    def begin(self, end: float) -> None:
        """Bound everything this connection does from now on by ``end`` (``time.monotonic``)."""
        self.end = end
        if self.sock is not None:
            self.sock.end = end

    def connect(self) -> None:
        connect_end = min(self.end, time.monotonic() + self.connect_timeout)
        sock = _tcp_connect(self.host, self.port, connect_end)
        try:
            if self.ssl_context is not None:
                sock = _tls_handshake(sock, self.ssl_context, self.host, connect_end)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self.end)

    def send(self, head: bytes, body: bytes | None) -> None:
        assert self.sock is not None
        if body is None:
            self.sock.sendall(head)
        elif len(body) <= _JOIN_BODY:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            self.sock.sendall(memoryview(body))

    def reader(self) -> io.BufferedReader:
        """A reader for one answer; bytes it buffered past the answer go with it (as in
        ``http.client``), never into the next answer."""
        assert self.sock is not None
        return io.BufferedReader(_DeadlineReader(self.sock), 16 * 1024)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


def _read_line(reader: io.BufferedReader, what: str) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong(what)
    return line


def _read_status(reader: io.BufferedReader) -> tuple[str, int]:
    """The status line's version and code (``http.client``'s rules and exceptions)."""
    raw = _read_line(reader, "status line")
    if not raw:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    line = raw.decode("iso-8859-1")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise http.client.BadStatusLine(line)
    try:
        status = int(parts[1])
    except ValueError:
        raise http.client.BadStatusLine(line) from None
    if not 100 <= status <= 999:
        raise http.client.BadStatusLine(line)
    return parts[0], status


def _read_headers(reader: io.BufferedReader) -> dict[str, str]:
    """Header lines up to the blank line: lower-cased names, the last of repeated names wins."""
    headers: dict[str, str] = {}
    name = ""
    count = 0
    while True:
        line = _read_line(reader, "header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        count += 1
        if count > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        text = line.decode("iso-8859-1")
        if text[0] in " \t" and name:  # obsolete line folding continues the previous value
            headers[name] = f"{headers[name]} {text.strip()}"
            continue
        key, colon, value = text.partition(":")
        if colon:
            name = key.strip().lower()
            headers[name] = value.strip()


@dataclass(slots=True)
class _Head:
    status: int
    headers: dict[str, str]
    will_close: bool
    length: int | None  # None: chunked or until the connection closes
    chunked: bool


def _read_head(reader: io.BufferedReader, method: str) -> _Head:
    """Status line and headers of the final answer (``100 Continue`` and other 1xx skipped)."""
    while True:
        version, status = _read_status(reader)
        headers = _read_headers(reader)
        if not 100 <= status < 200 or status == 101:
            break
    if version == "HTTP/1.0":
        keep_alive = "keep-alive" in headers or "keep-alive" in headers.get("connection", "").lower()
        will_close = not keep_alive
    elif version.startswith("HTTP/1."):
        will_close = "close" in headers.get("connection", "").lower()
    else:
        raise http.client.UnknownProtocol(version)
    chunked = headers.get("transfer-encoding", "").lower().rsplit(",", 1)[-1].strip() == "chunked"
    length: int | None = None
    if status in (204, 304) or method == "HEAD":
        length = 0
    elif not chunked:
        try:
            length = int(headers["content-length"])
        except (KeyError, ValueError):
            length = None
        if length is not None and length < 0:
            length = None
        if length is None:
            will_close = True  # the body ends when the server closes the connection
    return _Head(status, headers, will_close, length, chunked)


def _read_chunked(reader: io.BufferedReader, limit: int) -> tuple[bytes, bool]:
    """A chunked body, at most ``limit`` bytes kept; ``True`` when there was more (stopped early)."""
    parts: list[bytes] = []
    size = 0
    while True:
        line = _read_line(reader, "chunk size")
        try:
            chunk = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(parts)) from None
        if chunk < 0:
            raise http.client.IncompleteRead(b"".join(parts))
        if chunk == 0:
            _read_headers(reader)  # trailers
            return b"".join(parts), False
        if size + chunk > limit:
            return (b"".join(parts) + reader.read(limit - size))[:limit], True
        data = reader.read(chunk)
        if len(data) < chunk:
            raise http.client.IncompleteRead(data)
        parts.append(data)
        size += chunk
        if _read_line(reader, "chunk end") not in (b"\r\n", b"\n"):
            raise http.client.IncompleteRead(b"".join(parts))


_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _resolve(host: str, port: int, end: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` within the time left: it cannot be interrupted, so it runs on a worker
    thread and we stop waiting for it at ``end``."""
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mailcore-http-dns")
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        return future.result(timeout=max(0.0, end - time.monotonic()))
    except FutureTimeout:
        raise AttemptTimeout(f"the DNS lookup of {host} did not answer in time") from None


def _tcp_connect(host: str, port: int, end: float) -> socket.socket:
    """TCP to the first address of ``host`` that answers before ``end``."""
    last: OSError = AttemptTimeout(f"could not connect to {host} port {port} in time")
    for family, kind, proto, _, address in _resolve(host, port, end):
        left = end - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except TimeoutError:
            sock.close()
            last = AttemptTimeout(f"connecting to {host} port {port} timed out")
        except OSError as error:
            sock.close()
            last = error
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
    raise last


def _tls_handshake(sock: socket.socket, context: ssl.SSLContext, host: str, end: float) -> ssl.SSLSocket:
    """The TLS handshake, bounded by ``end`` as a whole (a dripped handshake cannot stretch it)."""
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            wanted: tuple[list[ssl.SSLSocket], list[ssl.SSLSocket]] = ([tls], [])
        except ssl.SSLWantWriteError:
            wanted = ([], [tls])
        left = end - time.monotonic()
        if left <= 0 or not any(select.select(*wanted, [], left)):
            raise AttemptTimeout(f"the TLS handshake with {host} did not finish in time")
    tls.setblocking(True)
    return tls


class ConnectionPool:
    """Keeps up to ``max_idle`` idle keep-alive connections to ``base_url``'s host; thread-safe.

    ``timeout`` bounds each request by the wall clock (and never past the message deadline);
    ``connect_timeout`` is the shorter sub-bound on TCP connect plus TLS handshake. A connection
    whose request failed in any way, whose answer was cut or oversized, or that answered 408,
    429 or 5xx is closed, never reused: the retry gets a fresh one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 32,
        max_body: int = MAX_BODY,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http(s):// URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = min(timeout, connect_timeout or CONNECT_TIMEOUT)
        self.ssl_context = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.max_idle = max_idle
        self.max_body = max_body
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        default_port = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if self.port == default_port else f"{host}:{self.port}"
        self._header_cache: dict[tuple[tuple[str, str], ...], bytes] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        content_type: str | None = None,
        cache_headers: bool = True,
    ) -> HTTPAnswer:
        """Send exactly one request and read its answer within the attempt's time.

        ``path`` is appended to the base URL's path; an absolute URL's path and query are used
        as they are (it must point at this pool's host). ``headers`` are usually the same
        mapping for every request of a transport: their encoded lines are cached (keyed by
        content, so a changed mapping is encoded again); ``content_type``, when given, is the
        one header that changes per request (a multipart boundary); ``cache_headers=False`` for
        headers that all change per request (a signature). ``Host``,
        ``Accept-Encoding: identity`` and ``Content-Length`` are added unless given.
        """
        seconds = attempt_seconds(self.timeout)
        connection = self._acquire()
        connection.begin(time.monotonic() + seconds)
        reusable = False
        try:
            try:  # a header or target that could inject fails here, before any byte is written
                head = self._head(method, self._target(path), body, headers, content_type, cache_headers)
                if connection.sock is None:
                    connection.connect()
                connection.send(head, body)
            except (OSError, http.client.HTTPException, ValueError) as error:
                raise RequestFailed(error, body_sent=False) from error
            reader = connection.reader()
            try:
                answer_head = _read_head(reader, method)
            except (OSError, http.client.HTTPException, ValueError) as error:
                raise RequestFailed(error, body_sent=True) from error
            data, truncated = self._read_body(reader, answer_head)
            # a server error may come from a bad backend behind this keep-alive connection: the
            # retry gets a fresh connection, like an SMTP session that answered 4xx
            status = answer_head.status
            healthy = status < 500 and status not in (408, 429)
            reusable = healthy and data is not None and not truncated and not answer_head.will_close
            return HTTPAnswer(status, answer_head.headers, data, truncated)
        finally:
            self._release(connection, reusable)

    def _head(
        self,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        content_type: str | None,
        cache: bool,
    ) -> bytes:
        """The request line and headers, ending with the blank line."""
        if not _METHOD(method):
            raise ValueError(f"invalid HTTP method {method!r}")
        if _ILLEGAL_TARGET(target):
            raise ValueError(f"invalid character in the request target {target!r}")
        key = tuple(headers.items()) if cache else None
        lines = self._header_cache.get(key) if key is not None else None
        if lines is None:
            lines = header_lines(headers)
            present = {name.lower() for name in headers}
            if "host" not in present:
                lines = b"Host: %s\r\n" % self._host_header.encode("idna") + lines
            if "accept-encoding" not in present:
                lines += b"Accept-Encoding: identity\r\n"
            if key is not None:
                if len(self._header_cache) >= 16:
                    self._header_cache.clear()
                self._header_cache[key] = lines
        extra = header_lines({"Content-Type": content_type}) if content_type is not None else b""
        if body is not None or method in ("POST", "PUT", "PATCH"):
            extra += b"Content-Length: %d\r\n" % (len(body) if body is not None else 0)
        return b"%s %s HTTP/1.1\r\n%s%s\r\n" % (method.encode("ascii"), target.encode("ascii"), lines, extra)

    def _read_body(self, reader: io.BufferedReader, head: _Head) -> tuple[bytes | None, bool]:
        """At most ``max_body`` bytes of the body and whether there was more; ``None`` if cut off."""
        limit = self.max_body
        try:
            if head.chunked:
                return _read_chunked(reader, limit)
            if head.length is not None:
                data = reader.read(min(head.length, limit + 1))
                if len(data) < min(head.length, limit + 1):
                    return None, False
                if len(data) > limit:
                    return data[:limit], True
                return data, False
            data = reader.read(limit + 1)  # until the server closes
        except (OSError, http.client.HTTPException, ValueError):
            return None, False
        if len(data) > limit:
            return data[:limit], True
        return data, False

    def _target(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.base_path + path

    def close(self) -> None:
        """Close every idle connection; the pool stays usable and reconnects on demand."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _acquire(self) -> _Connection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return _Connection(
                    self.host, self.port, ssl_context=self.ssl_context, connect_timeout=self.connect_timeout
                )
            if not _dropped(connection):
                return connection
            connection.close()

    def _release(self, connection: _Connection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(connection)
                    return
        connection.close()


def _dropped(connection: _Connection) -> bool:
    """True when an idle keep-alive connection was closed by the peer (readable means EOF)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
