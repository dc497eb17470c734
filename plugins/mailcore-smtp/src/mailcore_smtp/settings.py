"""Parse ``smtp://``, ``smtps://`` and ``gmail://`` URLs into validated :class:`SMTPSettings`.

Pure: no sockets, no certificates loaded. Every mistake becomes a
:class:`~mailcore.errors.ConfigurationError` whose text shows the URL with secrets masked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mailcore.budget import positive_seconds
from mailcore.config import TransportURL, is_loopback
from mailcore.errors import ConfigurationError
from mailcore.redact import MASK, Secret
from mailcore.validate import check_hostname
from mailcore_smtp.relay import relay_for_host

__all__ = ["PARAMS", "SMTPSettings", "is_loopback"]

TLSMode = Literal["starttls", "implicit", "none"]
Family = Literal["auto", "ipv4", "ipv6"]

#: Every query parameter the SMTP transports accept.
PARAMS = frozenset(
    {
        "timeout",
        "connect_timeout",
        "read_timeout",
        "cafile",
        "tls",
        "certfile",
        "keyfile",
        "ehlo",
        "family",
        "pool",
        "max_messages",
        "oauth_token",
        "relay",
        "verp",
    }
)

GMAIL_HOST = "smtp.gmail.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_MESSAGES = 1000


@dataclass(frozen=True)
class SMTPSettings:
    """Everything one SMTP transport needs; secrets are :class:`~mailcore.redact.Secret`.

    ``tls_required`` is false only on loopback hosts (STARTTLS is then used when offered,
    still verified) or with an explicit ``tls=none``.
    """

    scheme: str
    host: str
    port: int
    tls: TLSMode = "starttls"
    tls_required: bool = True
    username: str | None = None
    password: Secret | None = None
    oauth_token: Secret | None = None
    auth_required: bool = False
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    ehlo: str | None = None
    family: Family = "auto"
    pool: int = 1
    max_messages: int = DEFAULT_MAX_MESSAGES
    relay: str = "neutral"
    verp: str | None = None  # bounces@example.com: a per-message envelope sender (mailcore.verp)

    @property
    def name(self) -> str:
        """The transport's display name: scheme, host and port; credentials show as ``***``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        userinfo = f"{MASK}:{MASK}@" if self.username else ""
        return f"{self.scheme}://{userinfo}{host}:{self.port}"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self.password, self.oauth_token) if s)

    def with_changes(self, **changes: object) -> SMTPSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_url(cls, url: TransportURL, *, has_token_provider: bool = False) -> SMTPSettings:
        """Validate a parsed URL; raise :class:`ConfigurationError` naming the problem.

        ``has_token_provider`` says an XOAUTH2 token callable will be given in Python.
        """
        token = url.params.get("oauth_token")
        url = url.without("oauth_token")  # never echo the token in an error text
        url.check_params(PARAMS - {"oauth_token"})
        scheme = url.scheme
        if scheme not in ("smtp", "smtps", "gmail"):
            raise ConfigurationError(f"{url.masked()}: not an SMTP URL")
        if url.path not in ("", "/"):  # what follows an unencoded '/' in a password
            raise ConfigurationError(
                f"{url.masked()}: an SMTP URL has no path; percent-encode '/' (%2F) in a user name or password"
            )
        tls = _tls_mode(url)
        host = url.host or (GMAIL_HOST if scheme == "gmail" else None)
        if not host:
            raise ConfigurationError(f"{url.masked()}: give the server, e.g. smtp://user:pass@smtp.example.com:587")
        port = url.port or (465 if tls == "implicit" else 587)
        loopback = is_loopback(host)
        explicit_tls = "tls" in url.params or scheme != "smtp"
        settings = cls(
            scheme=scheme,
            host=host,
            port=port,
            tls=tls,
            tls_required=tls != "none" and (explicit_tls or not loopback),
            username=url.username,
            password=url.password,
            oauth_token=Secret(token) if token else None,
            auth_required=scheme == "gmail",
            timeout=_positive(url, "timeout", DEFAULT_TIMEOUT),
            connect_timeout=_positive(url, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=_positive(url, "read_timeout", DEFAULT_READ_TIMEOUT),
            cafile=url.get("cafile") or None,
            certfile=url.get("certfile") or None,
            keyfile=url.get("keyfile") or None,
            ehlo=url.get("ehlo") or None,
            family=_family(url),
            pool=_at_least_one(url, "pool", 1),
            max_messages=_at_least_one(url, "max_messages", DEFAULT_MAX_MESSAGES),
            relay=relay_for_host(host, url.get("relay") or None),
            verp=url.get("verp") or None,
        )
        settings.validate(url.masked(), has_token_provider=has_token_provider)
        return settings

    def validate(self, shown: str | None = None, *, has_token_provider: bool = False) -> None:
        """Check the combination of settings (also for settings built in Python)."""
        where = shown or self.name
        for name in ("timeout", "connect_timeout", "read_timeout"):
            positive_seconds(getattr(self, name), name, where)
        if self.scheme == "gmail" and self.tls == "none":
            raise ConfigurationError(f"{where}: Gmail requires TLS; remove tls=none")
        if self.password is not None and self.oauth_token is not None:
            raise ConfigurationError(f"{where}: give a password or oauth_token, not both")
        has_secret = self.password is not None or self.oauth_token is not None or has_token_provider
        if has_secret and not self.username:
            raise ConfigurationError(f"{where}: a password or token needs a user name (user:password@host)")
        if self.auth_required and not has_secret:
            raise ConfigurationError(
                f"{where}: Gmail needs credentials: gmail://you%40gmail.com:APP-PASSWORD@ "
                "or ?oauth_token=... (see docs/gmail.md)"
            )
        if self.username and not has_secret:
            raise ConfigurationError(f"{where}: the user name has no password or oauth_token (user:password@host)")
        if self.keyfile and not self.certfile:
            raise ConfigurationError(f"{where}: keyfile needs certfile (the client certificate)")
        if self.verp is not None:
            from mailcore.verp import check_base

            check_base(self.verp)
        if self.ehlo is not None and check_hostname(self.ehlo, f"{where}: ehlo") != self.ehlo:
            raise ConfigurationError(f"{where}: write ehlo= in its ASCII form, {check_hostname(self.ehlo, 'ehlo')!r}")


def _tls_mode(url: TransportURL) -> TLSMode:
    default = "implicit" if url.scheme == "smtps" else "starttls"
    mode = url.get_choice("tls", ("starttls", "implicit", "none"), default)
    if url.scheme == "smtps" and mode != "implicit":
        raise ConfigurationError(f"{url.masked()}: smtps:// is implicit TLS; use smtp://…?tls={mode} instead")
    return mode  # type: ignore[return-value]


def _family(url: TransportURL) -> Family:
    return url.get_choice("family", ("auto", "ipv4", "ipv6"), "auto")  # type: ignore[return-value]


def _positive(url: TransportURL, name: str, default: float) -> float:
    return url.get_seconds(name, default)


def _at_least_one(url: TransportURL, name: str, default: int) -> int:
    value = url.get_int(name, default)
    assert value is not None
    if value < 1:
        raise ConfigurationError(f"{url.masked()}: {name} must be at least 1")
    return value


def validate_url(url: TransportURL) -> None:
    """The registry's validator: parse and check ``url`` into settings, opening nothing.

    ``manage.py check`` and ``mailcore check`` call it; every check in :meth:`SMTPSettings.from_url`
    and :meth:`SMTPSettings.validate` runs, so a new parameter check there is reported too.
    """
    SMTPSettings.from_url(url)
