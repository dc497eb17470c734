"""Transport URLs and composite policy expressions.

One string describes a whole policy, so it fits one environment variable (``MAILCORE_URL``)::

    failover(sendgrid://KEY@ ses://?region=eu-west-1)
    failover(roundrobin(ses://?region=eu-west-1 ses://?region=us-east-1) smtp://relay:587)
    weighted(mailgun://KEY@example.com?weight=3 sendgrid://KEY@?weight=1)

Items inside ``name(...)`` are separated by white space. Userinfo and query values are
percent-decoded. :func:`parse` returns a tree of :class:`TransportURL` and :class:`Composite`;
building transports from it is :mod:`mailcore.policy`'s job. Every ``str``/``repr`` here masks
secrets.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from mailcore.errors import ConfigurationError
from mailcore.redact import MASK, Secret

__all__ = ["COMPOSITES", "Composite", "Node", "TransportURL", "parse", "parse_url"]

#: Composite policy names accepted in URL expressions.
COMPOSITES = ("failover", "roundrobin", "weighted")
#: Query parameters whose values are secrets (masked when printed).
SECRET_PARAMS = frozenset(
    {"api_key", "key", "password", "secret", "token", "access_token", "secret_access_key", "oauth_token"}
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
#: Deepest ``failover(roundrobin(...))`` nesting accepted; real policies use two or three levels.
MAX_NESTING = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}")  # a name to connect to (underscores: container names)


@dataclass(frozen=True)
class TransportURL:
    """One parsed transport URL, ``scheme://user:password@host:port/path?params``.

    ``password`` is a :class:`~mailcore.redact.Secret`; when the URL has a user but no password
    (``sendgrid://API_KEY@``), the user is treated as the secret it usually is and masked in
    :meth:`masked`. Factories read parameters with the typed getters and call
    :meth:`check_params` so a misspelt parameter is reported instead of ignored.
    """

    scheme: str
    username: str | None = None
    password: Secret | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    # -- typed parameter access ------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def get_float(self, name: str, default: float | None = None) -> float | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{self.masked()}: {name}={raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigurationError(f"{self.masked()}: {name}={raw!r} must be a finite number")
        if value < 0:
            raise ConfigurationError(f"{self.masked()}: {name} must not be negative")
        return value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{self.masked()}: {name}={raw!r} is not a whole number") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{self.masked()}: {name}={raw!r} is not true or false")

    def get_choice(self, name: str, choices: Iterable[str], default: str) -> str:
        allowed = tuple(choices)
        value = self.params.get(name, default)
        if value not in allowed:
            raise ConfigurationError(f"{self.masked()}: {name}={value!r}; choose one of {', '.join(allowed)}")
        return value

    def check_params(self, allowed: Iterable[str]) -> None:
        """Raise :class:`ConfigurationError` naming any parameter not in ``allowed``."""
        known = set(allowed)
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise ConfigurationError(
                f"{self.masked()}: unknown parameter(s) {', '.join(unknown)}; "
                f"{self.scheme}:// accepts {', '.join(sorted(known)) or 'none'}"
            )

    def without(self, *names: str) -> TransportURL:
        """A copy without the given parameters (policies take ``weight`` and ``rate`` off)."""
        params = {k: v for k, v in self.params.items() if k not in names}
        return TransportURL(self.scheme, self.username, self.password, self.host, self.port, self.path, params)

    # -- display ---------------------------------------------------------------------------

    def masked(self) -> str:
        """The URL with every secret replaced by ``***``; safe for logs and errors."""
        userinfo = ""
        if self.username is not None and self.password is not None:
            userinfo = f"{quote(self.username, safe='')}:{MASK}@"
        elif self.username is not None:
            userinfo = f"{MASK}@"
        elif self.password is not None:
            userinfo = f":{MASK}@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port is not None else ""
        query = "&".join(
            f"{k}={MASK if k.lower() in SECRET_PARAMS else quote(v, safe='/:,')}" for k, v in self.params.items()
        )
        return f"{self.scheme}://{userinfo}{host}{port}{self.path}" + (f"?{query}" if query else "")

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"TransportURL({self.masked()!r})"


@dataclass(frozen=True)
class Composite:
    """``kind(children...)``: a policy over other nodes."""

    kind: str
    children: tuple[Node, ...]

    def masked(self) -> str:
        return f"{self.kind}(" + " ".join(child.masked() for child in self.children) + ")"

    def __str__(self) -> str:
        return self.masked()


Node = TransportURL | Composite


def parse_url(text: str) -> TransportURL:
    """Parse one transport URL; raise :class:`ConfigurationError` naming what is wrong."""
    if "://" not in text:
        raise ConfigurationError(
            f"{_mask_raw(text)!r} is not a transport URL; expected scheme://…, e.g. smtp://user:pass@host:587"
        )
    scheme = text.split("://", 1)[0].lower()
    if not _SCHEME.fullmatch(scheme):
        raise ConfigurationError(f"{scheme!r} is not a valid URL scheme")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:  # urllib's text quotes URL pieces, perhaps of a password: not shown
        problem = (
            "the port is out of range 0-65535" if "out of range" in str(error) else "the host or port is not valid"
        )
        raise ConfigurationError(
            f"{_mask_raw(text)!r}: {problem}; percent-encode '/', '?', '#' and '@' in a user name or password"
        ) from None
    if parts.fragment:
        raise ConfigurationError(f"{_mask_raw(text)!r}: '#' must be percent-encoded (%23) in a URL")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in params:
            raise ConfigurationError(f"{_mask_raw(text)!r}: parameter {key!r} given twice")
        if _CONTROL.search(key + value):  # values reach wire protocols (EHLO, API paths, headers)
            raise ConfigurationError(f"{_mask_raw(text)!r}: parameter {key!r} holds a line break or control character")
        params[key] = value
    username = unquote(parts.username) if parts.username is not None else None
    password = Secret(unquote(parts.password)) if parts.password is not None else None
    return TransportURL(
        scheme=scheme,
        username=username or None if password is None else username,
        password=password,
        host=_checked_host(parts.hostname, text),
        port=port,
        path=unquote(parts.path),
        params=params,
    )


def _checked_host(host: str | None, text: str) -> str | None:
    """The URL's host: a host name (IDN allowed) or an IP address, never control characters."""
    if not host:
        return None
    if _HOST.fullmatch(host):
        return host
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    from mailcore.validate import ascii_domain  # IDNA 2008: only for the rare non-ASCII host

    try:
        ascii_domain(host)
    except ValueError as error:
        raise ConfigurationError(f"{_mask_raw(text)!r}: the host is not a valid host name ({error})") from None
    return host


def parse(text: str) -> Node:
    """Parse a transport URL or a composite expression such as ``failover(a b)``."""
    tokens = _tokenize(text)
    if not tokens:
        raise ConfigurationError("the transport URL is empty; set MAILCORE_URL or pass a URL")
    node, rest = _parse_node(tokens)
    if rest:
        raise ConfigurationError(
            f"unexpected {_mask_raw(rest[0])!r} after {node.masked()}; wrap several transports in failover(...)"
        )
    return node


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    names = "|".join(COMPOSITES)
    pattern = re.compile(rf"\s*(?:(?P<open>(?:{names})\()|(?P<close>\))|(?P<word>[^\s()]+))")
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = pattern.match(text, pos)
        if not match:
            raise ConfigurationError(
                f"cannot parse {_mask_raw(text)!r}: '(' and ')' belong to failover(...), roundrobin(...) or "
                "weighted(...); percent-encode them (%28, %29) in a password"
            )
        tokens.append(match.group("open") or match.group("close") or match.group("word"))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _parse_node(tokens: list[str], depth: int = 0) -> tuple[Node, list[str]]:
    head, rest = tokens[0], tokens[1:]
    if depth > MAX_NESTING:
        raise ConfigurationError(f"the transport URL nests policies more than {MAX_NESTING} levels deep")
    if head == ")":
        raise ConfigurationError("unbalanced ')' in the transport URL")
    if not head.endswith("("):
        return parse_url(head), rest
    kind = head[:-1]
    children: list[Node] = []
    while True:
        if not rest:
            raise ConfigurationError(f"{kind}(...) is missing its closing ')'")
        if rest[0] == ")":
            rest = rest[1:]
            break
        child, rest = _parse_node(rest, depth + 1)
        children.append(child)
    if not children:
        raise ConfigurationError(f"{kind}() needs at least one transport")
    return Composite(kind, tuple(children)), rest


_RAW_USERINFO = re.compile(r"(://)\S*@")  # up to the token's last '@': a password may hold '/', '?' or '#'
_RAW_SECRET_PARAM = re.compile(rf"(?i)([?&](?:{'|'.join(sorted(SECRET_PARAMS))})=)[^&\s()]*")


def _mask_raw(text: str) -> str:
    """Mask userinfo and secret parameters in a string that failed to parse, for error texts."""
    return _RAW_SECRET_PARAM.sub(rf"\1{MASK}", _RAW_USERINFO.sub(rf"\1{MASK}@", text))


def mask_url(text: str) -> str:
    """Mask secrets in any transport URL or composite expression, parsable or not."""
    try:
        return parse(text).masked()
    except ConfigurationError:
        return _mask_raw(text)
