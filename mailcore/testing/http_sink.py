"""A local HTTP(S) peer that answers like an email API, for tests and benchmarks.

:class:`HTTPSink` listens on ``127.0.0.1`` (HTTP/1.1 with keep-alive, optional TLS), records every
request, counts requests and TCP connections, and answers each request with, in order:

1. the next scripted :class:`Reply` (:meth:`HTTPSink.script`), if any;
2. a 400 naming the problems when the ``validator`` finds any (they are also kept in
   :attr:`HTTPSink.problems`, so a test can assert that every request was valid);
3. the ``default`` reply factory (:func:`sendgrid_reply` answers 202 with ``X-Message-Id``,
   :func:`mailgun_reply` answers 200 with a JSON ``id``).

A :class:`Reply` can also misbehave on purpose: ``action="close"`` reads the request and closes
the connection without answering, ``action="hang"`` reads it and answers only after ``delay``
seconds (longer than the client's timeout), ``action="drip"`` sends the answer one byte every
``delay`` seconds, ``action="raw"`` sends the bytes ``raw`` verbatim (a garbage status line,
too many headers, a huge body) and closes. :class:`SilentPeer` accepts TCP connections and
never reads or writes a byte (a hung load balancer; with ``https://`` the TLS handshake hangs). Only the standard library is used, so this module
imports without ``sendgrid`` or ``requests`` installed::

    with HTTPSink(default=sendgrid_reply) as sink:
        sink.script(Reply(429, {"Retry-After": "7"}))
        ...  # point the transport at sink.url
        assert sink.count == 1
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = [
    "FormPart",
    "HTTPSink",
    "RecordedRequest",
    "Reply",
    "SilentPeer",
    "mailgun_reply",
    "parse_multipart",
    "sendgrid_reply",
    "unused_port",
]


@dataclass(frozen=True)
class Reply:
    """What the sink answers to one request.

    ``action`` is ``None`` (answer normally), ``"close"`` (read the request, then close the
    connection without a response), ``"hang"`` (read the request, wait ``delay`` seconds,
    then close), ``"drip"`` (send the answer one byte every ``delay`` seconds) or ``"raw"``
    (send ``raw`` verbatim, then close).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str | Mapping[str, Any] | list[Any] = b""
    action: str | None = None
    delay: float = 0.0
    raw: bytes = b""

    def encoded_body(self) -> tuple[bytes, str | None]:
        """The body as bytes, and the content type it implies (JSON for dicts and lists)."""
        if isinstance(self.body, bytes):
            return self.body, None
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode("utf-8"), "application/json"


@dataclass(frozen=True)
class FormPart:
    """One field of a ``multipart/form-data`` body."""

    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the sink received it; header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[FormPart]:
        """The multipart form fields, in order (repeated names appear repeatedly)."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """Split a ``multipart/form-data`` body into its parts with the stdlib MIME parser."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError(f"not a multipart/form-data body: {content_type!r}")
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError(f"form part without a name: {disposition!r}")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        parts.append(
            FormPart(
                name=name,
                value=payload if isinstance(payload, bytes) else b"",
                filename=filename,
                content_type=part.get("Content-Type"),
            )
        )
    return parts


_ids = itertools.count(1)


def sendgrid_reply(request: RecordedRequest) -> Reply:
    """SendGrid's success answer to ``POST /v3/mail/send``: 202, empty body, ``X-Message-Id``.

    ``GET /v3/scopes`` (used by ``mailcore check``) answers with a key holding ``mail.send``.
    """
    if request.method == "GET" and request.path.endswith("/v3/scopes"):
        return Reply(200, body={"scopes": ["mail.send", "user.profile.read"]})
    return Reply(202, {"X-Message-Id": f"sg-{next(_ids)}"})


def mailgun_reply(request: RecordedRequest) -> Reply:
    """Mailgun's success answer to ``POST /v3/{domain}/messages``: 200 with ``{id, message}``.

    ``GET /v3/domains/{domain}`` (used by ``mailcore check``) describes an active domain.
    """
    if request.method == "GET" and "/v3/domains/" in request.path:
        name = request.path.rsplit("/", 1)[-1]
        return Reply(200, body={"domain": {"name": name, "state": "active"}})
    return Reply(200, body={"id": f"<mg-{next(_ids)}@sink.test>", "message": "Queued. Thank you."})


def unused_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (for connection-refused tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sink: HTTPSink
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        self.sink._connection_opened()
        return conn, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's own thread: the TLS handshake never blocks ``accept``."""
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                request.close()
                return
        super().finish_request(request, client_address)


def _response_bytes(reply: Reply) -> bytes:
    """The whole HTTP/1.1 answer for ``reply``: status line, headers, body."""
    payload, implied_type = reply.encoded_body()
    headers = {k.lower(): (k, v) for k, v in reply.headers.items()}
    if implied_type and "content-type" not in headers:
        headers["content-type"] = ("Content-Type", implied_type)
    headers["content-length"] = ("Content-Length", str(len(payload)))
    lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Answer')}"]
    lines += [f"{name}: {value}" for name, value in headers.values()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}


class SilentPeer:
    """Accepts TCP connections on 127.0.0.1 and never reads or writes: a provider that hangs.

    ``connections`` counts accepted connections. With an ``https://`` URL the client's TLS
    handshake never completes, so nothing can have been handed over.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-peer", daemon=True)
        self._thread.start()

    def url(self, scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(sock)

    def close(self) -> None:
        self._listener.close()
        for sock in self._held:
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.sink._answer(request)
        if reply.action in ("close", "hang", "raw"):
            if reply.action == "hang":
                time.sleep(reply.delay)
            if reply.action == "raw":
                self._write_quietly(reply.raw)
            self.close_connection = True
            return
        if reply.action == "drip":
            self.close_connection = True
            for index in range(len(answer := _response_bytes(reply))):
                if not self._write_quietly(answer[index : index + 1]):
                    return
                time.sleep(reply.delay)
            return
        payload, implied_type = reply.encoded_body()
        self.send_response(reply.status)
        headers = {k.lower(): (k, v) for k, v in reply.headers.items()}
        if implied_type and "content-type" not in headers:
            self.send_header("Content-Type", implied_type)
        for name, value in headers.values():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _write_quietly(self, data: bytes) -> bool:
        """Write ``data``; False once the client has gone (a fault test expects that)."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class HTTPSink:
    """A threaded HTTP(S) server on 127.0.0.1 answering like an email provider's API."""

    def __init__(
        self,
        *,
        default: Callable[[RecordedRequest], Reply] = sendgrid_reply,
        validator: Callable[[RecordedRequest], list[str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.default = default
        self.validator = validator
        self.record = record
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self.count = 0
        self.connections = 0
        self._scripted: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ssl_context = ssl_context
        self._server = _Server((host, 0), _Handler, bind_and_activate=True)
        self._server.sink = self
        self._server.ssl_context = ssl_context
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT`` or ``https://…``), without a trailing slash."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.02,), name="http-sink", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ----------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before the default."""
        with self._lock:
            self._scripted.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests, problems, counters and unused scripted replies."""
        with self._lock:
            self.requests.clear()
            self.problems.clear()
            self._scripted.clear()
            self.count = 0
            self.connections = 0

    @property
    def last(self) -> RecordedRequest:
        """The most recent request (raises ``IndexError`` when none was recorded)."""
        return self.requests[-1]

    def _connection_opened(self) -> None:
        with self._lock:
            self.connections += 1

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.count += 1
            if self.record:
                self.requests.append(request)
            scripted = self._scripted.popleft() if self._scripted else None
        if scripted is not None:
            return scripted
        if self.validator is not None:
            problems = self.validator(request)
            if problems:
                with self._lock:
                    self.problems.extend(problems)
                errors = [{"message": p, "field": None} for p in problems]
                return Reply(400, body={"errors": errors, "message": "; ".join(problems)})
        return self.default(request)
