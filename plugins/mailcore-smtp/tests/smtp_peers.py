"""Real peers on 127.0.0.1 for the SMTP tests.

* ``aiosmtpd`` with STARTTLS (a trustme certificate; its CA is trusted through ``?cafile=``) and
  AUTH PLAIN/LOGIN, recording each message and each session it served.
* ``FakeSMTP``: a threaded socket server whose answers are scripted per command, for the fault
  cases (no greeting, drip, 421 — after which it closes, like real servers —, 451, 550, drops,
  late answers). Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "alice@example.com"
PASSWORD = "s3cr3t-pa55word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- aiosmtpd --------------------------------------------------------------------------------------


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.sessions: dict[object, object] = {}
        self.auth_attempts = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions[session.peer] = session  # the client's address: one per TCP connection
        session.host_name = hostname  # aiosmtpd leaves this to an EHLO hook
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "data": envelope.original_content or envelope.content,
                    "session": session.peer,
                    "tls": session.ssl is not None,
                    "options": list(envelope.mail_options),
                }
            )
        return "250 2.0.0 Ok: queued as Q" + str(len(self.messages))


class Authenticator:
    def __init__(self, handler: RecordingHandler) -> None:
        self.handler = handler

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.handler.auth_attempts += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)


class AioServer:
    def __init__(self, controller: Controller, handler: RecordingHandler, cafile: str, port: int) -> None:
        self.controller = controller
        self.handler = handler
        self.cafile = cafile
        self.port = port

    def url(self, scheme: str = "smtp", user: str = USER, password: str = PASSWORD, **params: str) -> str:
        from urllib.parse import quote, urlencode

        query = {"cafile": self.cafile, **params}
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}?{urlencode(query)}"

    @property
    def session_count(self) -> int:
        return len(self.handler.sessions)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cafile(ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_context(ca) -> ssl.SSLContext:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def start_aiosmtpd(server_context, cafile, **smtp_kwargs) -> AioServer:
    handler = RecordingHandler()
    port = free_port()
    kwargs = dict(
        tls_context=server_context,
        require_starttls=True,
        authenticator=Authenticator(handler),
        auth_require_tls=True,
        enable_SMTPUTF8=True,
    )
    kwargs.update(smtp_kwargs)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return AioServer(controller, handler, cafile, port)


@pytest.fixture
def aio(server_context, cafile):
    server = start_aiosmtpd(server_context, cafile)
    yield server
    server.controller.stop()


# -- scripted fault server -------------------------------------------------------------------------

Script = dict[str, object]


class Drop(Exception):
    """Raised by a script entry to close the connection at that point."""


class Hangup(Drop):
    """An orderly close (FIN after the last reply, no reset), as a server does after 421."""


class FakeSMTP:
    """A scripted SMTP peer on 127.0.0.1.

    ``script`` maps a stage (``GREETING``, ``EHLO``, ``AUTH``, ``MAIL``, ``RCPT``, ``DATA``,
    ``END``, ``NOOP``, ``RSET``) to a reply string, a list of replies used one per occurrence
    (the default answer once it is exhausted), or a callable ``(argument, server) -> str``
    that may sleep or raise :class:`Drop`. ``greeting=None`` never greets; ``drip`` sends the
    greeting one byte every ``drip`` seconds; ``flood`` answers EHLO with ``250-`` continuation
    lines that never end (a hostile or broken server, before STARTTLS).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        extensions: tuple[str, ...] = ("PIPELINING", "8BITMIME", "SIZE 10000000", "AUTH PLAIN LOGIN"),
        greeting: str | None = "220 fake.test ESMTP",
        drip: float | None = None,
        drop_data_after: int | None = None,
        flood: bool = False,
    ) -> None:
        self.script = dict(script or {})
        self.extensions = extensions
        self.greeting = greeting
        self.drip = drip
        self.drop_data_after = drop_data_after
        self.flood = flood
        self.connections = 0
        self.commands: list[str] = []
        self.messages: list[dict] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme: str = "smtp", **params: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"tls": "none", **params})
        return f"{scheme}://127.0.0.1:{self.port}?{query}"

    def verbs(self) -> list[str]:
        return [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in self.commands]

    # -- serving ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.clients.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _reply(self, stage: str, argument: str, default: str) -> str:
        entry = self.script.get(stage)
        if entry is None:
            return default
        if isinstance(entry, list):
            return entry.pop(0) if entry else default
        if callable(entry):
            answer = entry(argument, self)
            return default if answer is None else answer
        return str(entry)

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._session(sock)
        except Hangup:
            self._orderly_close(sock)
            return
        except (OSError, Drop):
            pass
        self._reset_close(sock)

    @staticmethod
    def _orderly_close(sock: socket.socket) -> None:
        """FIN, then read what the client still sends (pipelined commands) so no RST is sent."""
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(2)
            while sock.recv(65536):
                pass
        with contextlib.suppress(OSError):
            sock.close()

    @staticmethod
    def _reset_close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    def _send(self, sock: socket.socket, reply: str) -> None:
        sock.sendall(reply.replace("\n", "\r\n").encode() + b"\r\n")
        if reply.startswith("421"):
            raise Hangup  # RFC 5321 §3.8: a server closes the channel after 421, as real ones do

    def _session(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        if self.greeting is None:
            self.stopped.wait(30)
            return
        if self.drip is not None:
            for byte in (self.greeting + " " + "x" * 2000 + "\r\n").encode():
                if self.stopped.is_set():
                    return
                sock.sendall(bytes([byte]))
                time.sleep(self.drip)
            return
        self._send(sock, self._reply("GREETING", "", self.greeting))
        accepted = 0
        while True:
            raw = reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.commands.append(line)
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO" and self.flood:
                line = b"250-" + b"X" * 60 + b"\r\n"
                while not self.stopped.is_set():
                    sock.sendall(line * 256)
            elif verb == "EHLO":
                lines = ["fake.test", *self.extensions]
                reply = self._reply("EHLO", argument, "\n".join(f"250-{x}" for x in lines[:-1]) + f"\n250 {lines[-1]}")
                self._send(sock, reply)
            elif verb == "MAIL":
                accepted = 0
                self._send(sock, self._reply("MAIL", argument, "250 2.1.0 Ok"))
            elif verb == "RCPT":
                answer = self._reply("RCPT", argument, "250 2.1.5 Ok")
                accepted += answer.startswith("2")
                self._send(sock, answer)
            elif verb == "DATA":
                default = "354 End data with <CR><LF>.<CR><LF>" if accepted else "554 5.5.1 No valid recipients"
                answer = self._reply("DATA", "", default)
                self._send(sock, answer)
                if answer.startswith("354"):
                    data = self._read_data(reader)
                    self.messages.append({"data": data, "connection": self.connections})
                    self._send(sock, self._reply("END", "", "250 2.0.0 Ok: queued as FAKE1"))
            elif verb == "QUIT":
                self._send(sock, "221 2.0.0 Bye")
                return
            elif verb in ("AUTH", "NOOP", "RSET", "STARTTLS", "HELO"):
                default = {"AUTH": "235 2.7.0 Authentication successful", "STARTTLS": "454 4.7.0 TLS not available"}
                self._send(sock, self._reply(verb, argument, default.get(verb, "250 2.0.0 Ok")))
            elif line == "" or self._is_auth_continuation(line):
                self._send(sock, self._reply("AUTH_CONTINUE", line, "535 5.7.8 Authentication failed"))
            else:
                self._send(sock, "502 5.5.2 Command not recognized")

    @staticmethod
    def _is_auth_continuation(line: str) -> bool:
        return " " not in line and len(line) > 0 and not line.isalpha()

    def _read_data(self, reader) -> bytes:
        chunks = []
        size = 0
        while True:
            if self.drop_data_after is not None and size >= self.drop_data_after:
                raise Drop
            line = reader.readline()
            if not line:
                raise Drop
            if line == b".\r\n":
                return b"".join(chunks)
            size += len(line)
            chunks.append(line[1:] if line.startswith(b"..") else line)

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            clients = list(self.clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def fake() -> Callable[..., FakeSMTP]:
    servers: list[FakeSMTP] = []

    def make(script: Script | None = None, **options) -> FakeSMTP:
        server = FakeSMTP(script, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
