"""Open an SMTP session ready for mail: connect, greeting, EHLO, TLS, AUTH — within the deadline.

Failures leave this module as core errors (through :mod:`mailcore_smtp.classify`), with the
connection closed. Nothing here sends a message.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable

from mailcore.errors import ConnectionFailed, SendError, TransientError, TransportRejected
from mailcore.redact import Secret, install_log_filter, mask_secrets
from mailcore_smtp import classify
from mailcore_smtp.classify import Reply, Stage
from mailcore_smtp.net import ConnectFailure, Deadline, Resolver, connect, resolve
from mailcore_smtp.settings import SMTPSettings, is_loopback
from mailcore_smtp.wire import (
    CertificateFailure,
    Disconnected,
    ProtocolFailure,
    SMTPConnection,
    TLSFailure,
    WireTimeout,
)

__all__ = ["WIRE_ERRORS", "Opener", "TokenProvider", "ehlo_name", "wire_error"]

TokenProvider = Callable[[], str]
WIRE_ERRORS = (ConnectFailure, Disconnected, WireTimeout, CertificateFailure, TLSFailure, ProtocolFailure)
_HOSTNAME: str | None = None
log = install_log_filter(logging.getLogger("mailcore"))


def ehlo_name(sock: socket.socket) -> str:
    """The machine's name when it is fully qualified, else our address literal (no DNS lookup)."""
    global _HOSTNAME
    if _HOSTNAME is None:
        _HOSTNAME = socket.gethostname()
    if "." in _HOSTNAME:
        return _HOSTNAME
    local = sock.getsockname()[0]
    return f"[IPv6:{local}]" if ":" in local else f"[{local}]"


def wire_error(stage: Stage, error: BaseException, host: str) -> SendError:
    """Map a failure on the wire to the core error for the stage it happened at."""
    if isinstance(error, ConnectFailure):
        return ConnectionFailed(str(error), response=list(error.tried))
    if isinstance(error, CertificateFailure):
        return classify.certificate_failed(host, str(error))
    if isinstance(error, TLSFailure):
        return ConnectionFailed(f"TLS handshake with {host} failed: {error}")
    if isinstance(error, WireTimeout):
        return classify.timed_out(stage, error.limit)
    return classify.disconnected(stage, str(error))


class Opener:
    """Opens authenticated sessions for one transport's settings."""

    def __init__(
        self,
        settings: SMTPSettings,
        *,
        context: Callable[[], ssl.SSLContext],
        resolver: Resolver | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.settings = settings
        self.context = context
        self.resolver = resolver
        self.token_provider = token_provider
        self._warned_cleartext = False

    def connect(self, deadline: Deadline) -> SMTPConnection:
        """A TCP connection (TLS-wrapped for implicit TLS) to the first address that answers."""
        s = self.settings
        try:
            addresses = resolve(s.host, s.port, s.family, deadline, self.resolver)
            sock, address = connect(s.host, s.port, addresses, deadline=deadline, connect_timeout=s.connect_timeout)
        except ConnectFailure as error:
            raise wire_error(Stage.CONNECT, error, s.host) from None
        return SMTPConnection(
            sock, address, host=s.host, deadline=deadline, read_timeout=s.read_timeout, secrets=s.secrets
        )

    def open(self, deadline: Deadline) -> SMTPConnection:
        """Connect, read the greeting, EHLO, secure and authenticate; close on any failure."""
        connection = self.connect(deadline)
        try:
            self.handshake(connection)
            self.authenticate(connection)
        except WIRE_ERRORS as error:
            connection.close()
            raise wire_error(connection.stage, error, self.settings.host) from None
        except BaseException:  # a SendError, or an interrupt: the socket must not leak either way
            connection.close()
            raise
        return connection

    def handshake(self, connection: SMTPConnection) -> None:
        """Greeting, EHLO and TLS (implicit or STARTTLS, refused when required and missing)."""
        s = self.settings
        if s.tls == "implicit":
            connection.wrap_tls(self.context(), s.host)
        greeting = connection.read_greeting()
        if greeting.code != 220:
            raise classify.reply_error(Stage.GREETING, greeting)
        name = s.ehlo or ehlo_name(connection.sock)
        self._ehlo(connection, name)
        if s.tls != "starttls" or connection.tls:
            return
        if not connection.has("STARTTLS"):
            if s.tls_required:
                raise classify.starttls_missing(s.host)
            return
        reply = connection.starttls(self.context(), s.host)
        if reply.code != 220:
            raise classify.reply_error(Stage.STARTTLS, reply)
        self._ehlo(connection, name)

    @staticmethod
    def _ehlo(connection: SMTPConnection, name: str) -> None:
        reply = connection.ehlo(name)
        if not reply.ok:
            raise classify.reply_error(Stage.EHLO, reply)

    # -- AUTH ----------------------------------------------------------------------------

    @property
    def uses_oauth(self) -> bool:
        return self.settings.oauth_token is not None or self.token_provider is not None

    def authenticate(self, connection: SMTPConnection) -> None:
        """AUTH with the configured credentials; nothing to do without a user name."""
        s = self.settings
        if not s.username:
            return
        mechanisms = connection.auth_mechanisms
        if not mechanisms:
            where = "" if connection.tls else " on an unencrypted connection"
            raise TransportRejected(f"{s.host} offers no AUTH{where}; the credentials were not sent")
        if not connection.tls:
            self._warn_cleartext()
        if self.uses_oauth:
            reply = self._xoauth2(connection, mechanisms)
        elif "PLAIN" in mechanisms:
            reply = connection.auth_plain(s.username, _reveal(s.password))
        elif "LOGIN" in mechanisms:
            reply = connection.auth_login(s.username, _reveal(s.password))
        else:
            raise TransportRejected(
                f"{s.host} offers AUTH {' '.join(mechanisms)}; mailcore speaks PLAIN, LOGIN and XOAUTH2"
            )
        if reply.code != 235:
            raise classify.reply_error(Stage.AUTH, reply)

    def _warn_cleartext(self) -> None:
        """Log once per transport that credentials cross the network unencrypted (tls=none)."""
        if self._warned_cleartext or is_loopback(self.settings.host):
            return
        self._warned_cleartext = True
        log.warning(
            "%s: sending the SMTP credentials without TLS to a host that is not loopback (tls=none); "
            "use tls=starttls or smtps:// (Django: EMAIL_USE_TLS or EMAIL_USE_SSL = True)",
            self.settings.name,
        )

    def _xoauth2(self, connection: SMTPConnection, mechanisms: list[str]) -> Reply:
        username = self.settings.username or ""
        if "XOAUTH2" not in mechanisms:
            raise TransportRejected(f"{self.settings.host} does not offer XOAUTH2 (it offers {' '.join(mechanisms)})")
        reply, challenge = connection.auth_xoauth2(username, self._token(connection))
        if reply.code != 235 and self.token_provider is not None and _token_expired(reply, challenge):
            reply, _ = connection.auth_xoauth2(username, self._token(connection))  # asked once more
        return reply

    def _token(self, connection: SMTPConnection) -> str:
        if self.token_provider is None:
            return _reveal(self.settings.oauth_token)
        try:
            token = self.token_provider()
        except Exception as error:  # the user's callable: report it without its secrets
            detail = mask_secrets(f"{type(error).__name__}: {error}", connection.secrets)
            raise TransientError(f"the oauth_token_provider failed ({detail})") from None
        if not isinstance(token, str) or not token:
            raise TransportRejected("the oauth_token_provider returned no token")
        connection.secrets = (*connection.secrets, Secret(token))
        return token


def _reveal(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def _token_expired(reply: Reply, challenge: str | None) -> bool:
    """Gmail answers an expired or invalid token with a 401 challenge, then 535 (or 334)."""
    if challenge is not None and '"401"' in challenge:
        return True
    return reply.code in (334, 535)
