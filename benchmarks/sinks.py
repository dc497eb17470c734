"""Fast local peers for the benchmarks: an SMTP sink and an HTTPS API sink, each in its own process.

Both are asyncio servers on 127.0.0.1 in a spawned process (so they never compete with the
client for the GIL), both can wait ``latency`` seconds before each answer (a network round trip,
answers kept in order), and both count, in shared memory, the **messages** they accepted and the
**connections** they saw, so every benchmark run checks that all messages arrived and how many
connections the client opened (1 or K for kept-open paths, never N).

* :class:`SMTPSink`: EHLO with PIPELINING, 8BITMIME, SIZE; every command answered ``250``.
* :class:`HTTPSSink`: HTTP/1.1 keep-alive over TLS (a trustme CA the clients trust through
  ``cafile``); answers like SendGrid (``POST /v3/mail/send`` → 202 + ``X-Message-Id``), Mailgun
  (``POST /v3/<domain>/messages`` → 200 JSON ``id``) and SES v2 (``POST
  /v2/email/outbound-emails`` → 200 JSON ``MessageId``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

__all__ = ["HTTPSSink", "SMTPSink"]


class _Counters:
    def __init__(self, context: Any) -> None:
        self.messages = context.Value("q", 0)
        self.connections = context.Value("q", 0)

    def snapshot(self) -> tuple[int, int]:
        return self.messages.value, self.connections.value


class _Delayed(asyncio.Protocol):
    """Answers after ``latency`` seconds, in order; counts connections."""

    latency = 0.0
    counters: _Counters

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.loop = asyncio.get_running_loop()
        self.last_due = 0.0
        self.buffer = b""
        with self.counters.connections.get_lock():
            self.counters.connections.value += 1

    def answer(self, payload: bytes, *, close: bool = False) -> None:
        if not self.latency:
            self.transport.write(payload)
            if close:
                self.transport.close()
            return
        self.last_due = max(self.loop.time() + self.latency, self.last_due + 1e-6)
        self.loop.call_at(self.last_due, self.transport.write, payload)
        if close:
            self.loop.call_at(self.last_due, self.transport.close)

    def accepted(self, n: int = 1) -> None:
        with self.counters.messages.get_lock():
            self.counters.messages.value += n


class _SMTP(_Delayed):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.in_data = False
        self.transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.accepted()
                out.append(b"250 2.0.0 Ok: queued as BENCH1\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[end + 2 :]
            if verb in (b"EHLO", b"HELO"):
                out.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                self.in_data = True
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.answer(b"".join(out), close=True)
                return
            else:
                out.append(b"250 2.0.0 Ok\r\n")
        if out:
            self.answer(b"".join(out))


_SENDGRID = b"HTTP/1.1 202 Accepted\r\nX-Message-Id: bench-%d\r\nContent-Length: 0\r\n"
_JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-amzn-RequestId: r-%d\r\nContent-Length: %d\r\n"


class _HTTP(_Delayed):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.served = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                if headers.get("expect", "").lower() == "100-continue" and not getattr(self, "continued", False):
                    self.continued = True
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            self.continued = False
            self.buffer = self.buffer[head_end + 4 + length :]
            path = lines[0].split(" ")[1]
            close = headers.get("connection", "").lower() == "close"
            self.served += 1
            self.accepted()
            self.answer(self._reply(path, close), close=close)

    def _reply(self, path: str, close: bool) -> bytes:
        n = self.served
        if path.endswith("/v3/mail/send"):
            head, body = _SENDGRID % n, b""
        elif path.endswith("/messages"):
            body = b'{"id": "<bench-%d@example.com>", "message": "Queued. Thank you."}' % n
            head = _JSON % (n, len(body))
        else:  # SES v2 SendEmail
            body = b'{"MessageId": "bench-%d"}' % n
            head = _JSON % (n, len(body))
        return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body


def _serve(kind: str, counters: _Counters, latency: float, conn: Any, tls_dir: str | None) -> None:
    protocol: type[_Delayed] = _SMTP if kind == "smtp" else _HTTP
    protocol.counters = counters
    protocol.latency = latency
    ssl_context = None
    if tls_dir is not None:
        from mailcore.testing.tls import local_tls

        ssl_context, cafile = local_tls(tls_dir)
    else:
        cafile = None

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, ssl=ssl_context, backlog=1024)
        conn.send((server.sockets[0].getsockname()[1], cafile))
        await asyncio.Event().wait()

    asyncio.run(serve())


class _Sink:
    kind = "smtp"

    def __init__(self, latency: float = 0.0, tls_dir: str | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self.counters = _Counters(context)
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(self.kind, self.counters, latency, child, tls_dir), daemon=True
        )
        self.process.start()
        self.port, self.cafile = parent.recv()
        self.latency = latency

    def snapshot(self) -> tuple[int, int]:
        """(messages accepted, connections seen) so far."""
        return self.counters.snapshot()

    def wait_for(self, messages: int, timeout: float = 10.0) -> int:
        """Wait until at least ``messages`` were accepted in total; return the count."""
        deadline = time.monotonic() + timeout
        while self.counters.messages.value < messages and time.monotonic() < deadline:
            time.sleep(0.005)
        return int(self.counters.messages.value)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SMTPSink(_Sink):
    kind = "smtp"


class HTTPSSink(_Sink):
    kind = "http"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"
