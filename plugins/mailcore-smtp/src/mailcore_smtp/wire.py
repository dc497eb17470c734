"""A small SMTP client connection whose every read and write is bounded by a wall-clock deadline.

Why not :class:`smtplib.SMTP`: its socket timeout applies to each ``recv`` separately, so a server
that drips one byte every 0.4 s keeps it busy for as long as it likes, and its ``debuglevel``
writes base64 credentials to stderr. This class bounds every ``recv`` and ``sendall`` by what
is left of the attempt's :class:`~mailcore_smtp.net.Deadline` (capped by the read timeout), to
within :data:`~mailcore.budget.TIMEOUT_SLACK` (20 ms; the socket's timeout is set only when it
is further than that from the limit), never logs a command, and supports PIPELINING (RFC 2920)
so a message costs two round trips instead of four.

It knows the protocol's grammar, not what codes mean: that is :mod:`mailcore_smtp.classify`.
Failures on the wire surface as :class:`Disconnected`, :class:`WireTimeout`,
:class:`CertificateFailure`, :class:`TLSFailure` or :class:`ProtocolFailure`; the transport
maps them with the current :attr:`SMTPConnection.stage`.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl
import time

from mailcore.budget import arm_timeout
from mailcore.redact import Secret, mask_secrets
from mailcore_smtp.classify import Reply, Stage
from mailcore_smtp.net import Address, Deadline, DeadlineReached

__all__ = [
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINES",
    "CertificateFailure",
    "Disconnected",
    "ProtocolFailure",
    "SMTPConnection",
    "TLSFailure",
    "WireTimeout",
    "dot_stuff",
    "dot_stuff_sized",
    "message_size",
]

MAX_LINE = 8192
#: A reply longer than this many lines or bytes is refused (an endless ``250-`` continuation
#: would otherwise grow the client without bound; EHLO replies have a dozen or two lines).
MAX_REPLY_LINES = 200
MAX_REPLY_BYTES = 64 * 1024
_CRLF = b"\r\n"
_LEADING_DOT = re.compile(rb"(?m)^\.")
_BARE_LF = re.compile(rb"(?<!\r)\n")


class Disconnected(ConnectionError):
    """The server closed the connection or it broke."""


class WireTimeout(TimeoutError):
    """A read or write did not finish in time; ``limit`` says which limit was hit."""

    def __init__(self, limit: str) -> None:
        super().__init__(limit)
        self.limit = limit


class CertificateFailure(ConnectionError):
    """The server's TLS certificate did not verify."""


class TLSFailure(ConnectionError):
    """The TLS handshake failed for another reason (protocol, cipher, reset)."""


class ProtocolFailure(ConnectionError):
    """The server spoke something that is not SMTP, or injected data after STARTTLS."""


def dot_stuff(data: bytes) -> bytes:
    """Normalize line ends to CRLF, double leading dots, and append the final ``.`` line."""
    return dot_stuff_sized(data)[0]


def dot_stuff_sized(data: bytes) -> tuple[bytes, int]:
    """:func:`dot_stuff` and the :func:`message_size` of its output, with one scan fewer.

    When no line starts with a dot (nearly always) the size is known without counting the
    stuffed dots again: on a 137 KB attachment each scan of the data is a noticeable part of
    the CPU an SMTP send costs.
    """
    if b"\n" in data and data.count(b"\n") != data.count(_CRLF):
        data = _BARE_LF.sub(_CRLF, data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    stuffed = data.startswith(b".") or b"\n." in data
    if stuffed:
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(_CRLF):
        data += _CRLF
    data += b".\r\n"
    return data, (message_size(data) if stuffed else len(data) - 3)


def message_size(stuffed: bytes) -> int:
    """The RFC 1870 size of :func:`dot_stuff` output: without the added dots and final ``.``.

    Every line of the stuffed data that starts with ``..`` had one dot added.
    """
    added = stuffed.count(b"\r\n..") + (1 if stuffed.startswith(b"..") else 0)
    return len(stuffed) - 3 - added


class SMTPConnection:
    """One SMTP session on one socket, used by one thread at a time.

    ``deadline`` is replaced for every attempt (a pooled connection serves many attempts).
    ``features`` holds the EHLO extensions, upper-case keyword → parameters.
    """

    def __init__(
        self,
        sock: socket.socket,
        address: Address,
        *,
        host: str,
        deadline: Deadline,
        read_timeout: float,
        secrets: tuple[Secret, ...] = (),
    ) -> None:
        self.sock: socket.socket = sock
        self.address = address
        self.host = host
        self.deadline = deadline
        self.read_timeout = read_timeout
        self.secrets = secrets
        self.features: dict[str, str] = {}
        self.server_name = ""
        self.greeting: Reply | None = None
        self.stage = Stage.GREETING
        self.tls = False
        self.messages = 0  # transactions completed on this session (max_messages)
        self.delivered_in_attempt = 0  # transactions completed for the current message
        self.last_used = time.monotonic()
        self.closed = False
        self._buffer = b""

    # -- reading and writing -------------------------------------------------------------

    def _limit(self) -> float:
        try:
            return self.deadline.budget(self.read_timeout)
        except DeadlineReached:
            raise WireTimeout(f"the {self.deadline.seconds:g} s deadline passed") from None

    def _timeout_reason(self) -> WireTimeout:
        if self.deadline.expired:
            return WireTimeout(f"the {self.deadline.seconds:g} s deadline passed")
        return WireTimeout(f"no answer within the {self.read_timeout:g} s read timeout")

    def _recv(self) -> None:
        """Read what the server sent, waiting at most the time left (capped by the read timeout).

        The socket keeps its timeout while it is within :data:`~mailcore.budget.TIMEOUT_SLACK`
        of that limit (:func:`~mailcore.budget.arm_timeout`: no system call per read on a busy
        session), so a read waits at most the limit plus the slack (20 ms). When the kept timeout
        was shorter and fired first, the read goes on for exactly the rest of the limit: a read
        never gives up early.
        """
        limit = self._limit()
        armed = arm_timeout(self.sock, limit)
        try:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                rest = min(limit - armed, self.deadline.remaining())
                if rest <= 0:
                    raise
                self.sock.settimeout(rest)
                data = self.sock.recv(65536)
        except TimeoutError:
            raise self._timeout_reason() from None
        except OSError as error:
            raise Disconnected(str(error) or type(error).__name__) from None
        if not data:
            raise Disconnected("the server closed the connection")
        self._buffer += data

    def send(self, data: bytes) -> None:
        """Write all of ``data`` within the time left (``sendall`` bounds the whole write).

        As for reads, the socket's timeout is set only when it is more than
        :data:`~mailcore.budget.TIMEOUT_SLACK` away from the time left: a write ends at most the
        slack after the attempt's deadline (or at most the slack before it, when the server has
        read nothing for the whole attempt).
        """
        arm_timeout(self.sock, self._limit())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise self._timeout_reason() from None
        except OSError as error:
            raise Disconnected(str(error) or type(error).__name__) from None

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if len(self._buffer) > MAX_LINE:
                raise ProtocolFailure("reply line longer than 8192 bytes")
            self._recv()

    def read_reply(self) -> Reply:
        """Read one (possibly multi-line) reply; its text is masked of our secrets."""
        lines: list[str] = []
        code = 0
        size = 0
        while True:
            raw = self._line()
            head = raw[:3]
            if not head.isdigit():
                raise ProtocolFailure(mask_secrets(f"not an SMTP reply: {raw[:40]!r}", self.secrets))
            code = int(head)
            size += len(raw)
            if len(lines) >= MAX_REPLY_LINES or size > MAX_REPLY_BYTES:
                raise ProtocolFailure(
                    f"reply longer than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes (code {code}); "
                    "the server is not behaving like an SMTP server"
                )
            lines.append(raw[4:].strip().decode("utf-8", "replace"))
            if raw[3:4] != b"-":
                break
        text = "\n".join(lines)
        if self.secrets:
            text = mask_secrets(text, self.secrets)
        return Reply(code, text)

    def command(self, line: str, stage: Stage | None = None) -> Reply:
        """Send one command line and read its reply."""
        if stage is not None:
            self.stage = stage
        self.send(line.encode("utf-8") + _CRLF)
        return self.read_reply()

    # -- session setup -------------------------------------------------------------------

    def read_greeting(self) -> Reply:
        self.stage = Stage.GREETING
        self.greeting = self.read_reply()
        return self.greeting

    def ehlo(self, name: str) -> Reply:
        """EHLO (HELO when the server does not know EHLO); fills :attr:`features`."""
        reply = self.command(f"EHLO {name}", Stage.EHLO)
        if reply.code in (500, 502, 504):
            self.features = {}
            return self.command(f"HELO {name}", Stage.EHLO)
        if reply.ok:
            lines = reply.text.split("\n")
            self.server_name = lines[0].split(" ", 1)[0]
            features: dict[str, str] = {}
            for line in lines[1:]:
                keyword, _, params = line.partition(" ")
                keyword = keyword.upper()
                if keyword == "AUTH" and keyword in features:  # "AUTH=" old form adds to it
                    params = f"{features[keyword]} {params}"
                features[keyword] = params.strip()
            for line in lines[1:]:
                if line.upper().startswith("AUTH="):
                    features["AUTH"] = f"{features.get('AUTH', '')} {line[5:]}".strip()
            self.features = features
        return reply

    def has(self, extension: str) -> bool:
        return extension.upper() in self.features

    @property
    def auth_mechanisms(self) -> list[str]:
        return self.features.get("AUTH", "").upper().split()

    @property
    def size_limit(self) -> int | None:
        raw = self.features.get("SIZE", "")
        return int(raw) if raw.isdigit() and int(raw) > 0 else None

    def starttls(self, context: ssl.SSLContext, server_hostname: str) -> Reply:
        """Send STARTTLS and, on 220, wrap the socket (certificate verified by ``context``)."""
        reply = self.command("STARTTLS", Stage.STARTTLS)
        if reply.code != 220:
            return reply
        if self._buffer:  # bytes sent before the handshake would be trusted as if encrypted
            raise ProtocolFailure("the server sent data after its STARTTLS answer (command injection)")
        self.wrap_tls(context, server_hostname)
        return reply

    def wrap_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """TLS handshake within the time left; certificate and host name are verified."""
        self.stage = Stage.STARTTLS
        self.sock.settimeout(self._limit())
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        except ssl.SSLCertVerificationError as error:
            raise CertificateFailure(error.verify_message or str(error)) from None
        except TimeoutError:
            raise self._timeout_reason() from None
        except ssl.SSLError as error:
            raise TLSFailure(error.reason or str(error)) from None
        except OSError as error:
            raise Disconnected(str(error) or type(error).__name__) from None
        self.tls = True
        self.features = {}

    def peer_certificate(self) -> dict[str, object] | None:
        if isinstance(self.sock, ssl.SSLSocket):
            return self.sock.getpeercert()  # type: ignore[return-value]
        return None

    # -- AUTH ----------------------------------------------------------------------------

    def _encode_secret(self, raw: str) -> str:
        """base64 of an AUTH payload, remembered so a server echoing it gets it masked.

        Masking the password alone is not enough: its base64 appears inside the payload's
        base64 only when the bytes before it happen to be a multiple of three long.
        """
        encoded = base64.b64encode(raw.encode()).decode("ascii")
        self.secrets = (*self.secrets, Secret(encoded))
        return encoded

    def auth_plain(self, username: str, password: str) -> Reply:
        token = self._encode_secret(f"\0{username}\0{password}")
        return self._auth_finish(self.command(f"AUTH PLAIN {token}", Stage.AUTH))

    def auth_login(self, username: str, password: str) -> Reply:
        reply = self.command("AUTH LOGIN", Stage.AUTH)
        if reply.code != 334:
            return reply
        reply = self.command(base64.b64encode(username.encode()).decode("ascii"))
        if reply.code != 334:
            return reply
        return self._auth_finish(self.command(self._encode_secret(password)))

    def auth_xoauth2(self, username: str, token: str) -> tuple[Reply, str | None]:
        """XOAUTH2; returns the final reply and the error challenge the server sent, if any."""
        payload = self._encode_secret(f"user={username}\x01auth=Bearer {token}\x01\x01")
        reply = self.command(f"AUTH XOAUTH2 {payload}", Stage.AUTH)
        challenge = None
        if reply.code == 334:  # base64 JSON error; answer with an empty line for the final reply
            try:
                challenge = base64.b64decode(reply.text.strip()).decode("utf-8", "replace")
            except ValueError:
                challenge = reply.text
            reply = self.command("")
        return reply, challenge

    def _auth_finish(self, reply: Reply) -> Reply:
        if reply.code == 334:  # an unexpected further challenge: cancel the exchange
            return self.command("*")
        return reply

    # -- mail transaction ----------------------------------------------------------------

    def transaction_replies(
        self, sender: str, options: str, recipients: list[str]
    ) -> tuple[Reply, list[Reply], Reply | None]:
        """MAIL FROM, each RCPT TO and DATA; pipelined in one write when the server allows.

        Returns the MAIL reply, one reply per recipient, and the DATA reply (``None`` when DATA
        was not sent because MAIL or every RCPT failed without pipelining). After a ``421`` the
        server closes the channel (RFC 5321 §3.8), so no further reply is read: the answers
        still owed would only be a lost connection hiding the ``421``. Every recipient from
        there on gets that ``421`` as its answer.
        """
        mail = f"MAIL FROM:<{sender}>{options}\r\n"
        rcpts = [f"RCPT TO:<{r}>\r\n" for r in recipients]
        pipelining = self.has("PIPELINING")
        self.stage = Stage.MAIL
        self.send(("".join([mail, *rcpts, "DATA\r\n"]) if pipelining else mail).encode("utf-8"))
        mail_reply = self.read_reply()
        if mail_reply.code == 421 or (not pipelining and not mail_reply.ok):
            return mail_reply, [], None
        self.stage = Stage.RCPT
        rcpt_replies: list[Reply] = []
        for line in rcpts:
            if not pipelining:
                self.send(line.encode("utf-8"))
            reply = self.read_reply()
            rcpt_replies.append(reply)
            if reply.code == 421:
                rcpt_replies += [reply] * (len(rcpts) - len(rcpt_replies))
                return mail_reply, rcpt_replies, None
        if pipelining:
            self.stage = Stage.DATA
            return mail_reply, rcpt_replies, self.read_reply()
        if not any(r.ok for r in rcpt_replies):
            return mail_reply, rcpt_replies, None
        return mail_reply, rcpt_replies, self.command("DATA", Stage.DATA)

    def send_body(self, stuffed: bytes) -> Reply:
        """Send the dot-stuffed message (ending in ``.\\r\\n``) and read the final reply."""
        self.stage = Stage.BODY
        self.send(stuffed)
        self.stage = Stage.END
        reply = self.read_reply()
        self.messages += 1
        return reply

    def reset(self) -> bool:
        """RSET after an unfinished transaction; False when the session is no longer usable."""
        try:
            return self.command("RSET").ok
        except (OSError, ProtocolFailure):
            return False

    def noop(self) -> bool:
        try:
            return self.command("NOOP").ok
        except (OSError, ProtocolFailure):
            return False

    def quit(self) -> None:
        """QUIT politely (waiting at most 1 s for the answer), then close."""
        if self.closed:
            return
        try:
            self.deadline = Deadline(min(1.0, self.read_timeout))
            self.command("QUIT")
        except (OSError, ProtocolFailure):
            pass
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
