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

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from mailcore.errors import ConfigurationError
from mailcore.redact import MASK, Secret, conceal_traceback, reveal

__all__ = [
    "COMPOSITES",
    "Composite",
    "Node",
    "TransportURL",
    "is_loopback",
    "mask_endpoint",
    "mask_url",
    "parse",
    "parse_url",
]

#: Composite policy names accepted in URL expressions.
COMPOSITES = ("failover", "roundrobin", "weighted")
#: Query parameters whose values are shown when a URL is printed. Every other value is masked,
#: whatever its name, so a misspelt ``?apikey=`` or a plugin's own secret never shows.
SAFE_PARAMS = frozenset(
    {
        "cafile",
        "certfile",
        "configuration_set",
        "connect_timeout",
        "ehlo",
        "error",
        "fail",
        "family",
        "ignore_unsupported",
        "keyfile",
        "max_messages",
        "pool",
        "rate",
        "read_timeout",
        "region",
        "stream",
        "timeout",
        "tls",
        "weight",
    }
)
#: Parameters holding a URL: shown with that URL's own userinfo and query values masked.
URL_PARAMS = frozenset({"endpoint_url"})
#: Names shown even where the value is masked; an unknown name is shown only when it is close to
#: one of these (a misspelling), as anything else may be a piece of a password or a key.
KNOWN_NAMES = (
    SAFE_PARAMS
    | URL_PARAMS
    | frozenset({"access_token", "api_key", "key", "oauth_token", "password", "secret", "token", "user", "username"})
)
#: A path is shown only when it cannot hold a credential (a Redis database number).
_PLAIN_PATH = re.compile(r"/?\d{0,6}")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")


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
            raise ConfigurationError(f"{self.masked()}: {self._shown(name, raw)} is not a number") from None
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
            raise ConfigurationError(f"{self.masked()}: {self._shown(name, raw)} is not a whole number") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{self.masked()}: {self._shown(name, raw)} is not true or false")

    def get_choice(self, name: str, choices: Iterable[str], default: str) -> str:
        allowed = tuple(choices)
        value = self.params.get(name, default)
        if value not in allowed:
            raise ConfigurationError(f"{self.masked()}: {self._shown(name, value)}; choose one of {', '.join(allowed)}")
        return value

    def check_params(self, allowed: Iterable[str]) -> None:
        """Raise :class:`ConfigurationError` naming any parameter not in ``allowed``."""
        known = set(allowed)
        unknown = sorted(set(self.params) - known)
        if unknown:
            shown = [param_name(name, known) for name in unknown]
            guesses = "".join(f" (did you mean {guess!r}?)" for guess in _guesses(unknown, known))
            hint = "" if MASK not in shown else "; percent-encode '?', '/', '#' and '@' in a user name or password"
            raise ConfigurationError(
                f"{self.masked()}: unknown parameter(s) {', '.join(shown)}{guesses}; "
                f"{self.scheme}:// accepts {', '.join(sorted(known)) or 'none'}{hint}"
            )

    def check_no_host(self, usage: str) -> None:
        """Raise :class:`ConfigurationError` if a scheme that takes no host was given one.

        Call it first in such a factory: a key typed without its ``@`` (``sendgrid://KEY``) is
        parsed as a host, so the error names the problem and ``usage`` but never quotes it.
        """
        if self.host or self.port is not None or self.path not in ("", "/"):
            raise ConfigurationError(
                f"{self.scheme}:// takes no host, port or path; {usage}. A key or password goes before "
                "'@', with '/', '?', '#' and '@' in it percent-encoded"
            )

    def without(self, *names: str) -> TransportURL:
        """A copy without the given parameters (policies take ``weight`` and ``rate`` off)."""
        params = {k: v for k, v in self.params.items() if k not in names}
        return TransportURL(self.scheme, self.username, self.password, self.host, self.port, self.path, params)

    # -- display ---------------------------------------------------------------------------

    def masked(self) -> str:
        """The URL with anything that may be a credential replaced by ``***``; safe for logs.

        Masked by structure, not by name: the whole userinfo (a user name can be a key, as in
        ``sendgrid://KEY@`` or an SES access key id), every query value except those of
        :data:`SAFE_PARAMS`, the userinfo and query of an ``endpoint_url``, a path other than
        a number, a parameter name not close to a known one, and the host and port when an
        ``@`` after them shows that a password was cut short.
        """
        if self.password is not None:
            userinfo = f"{MASK}:{MASK}@"
        elif self.username is not None:
            userinfo = f"{MASK}@"
        else:
            userinfo = ""
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port is not None else ""
        if self._authority_cut_short():
            host, port = MASK, ""
        path = self.path if _PLAIN_PATH.fullmatch(self.path) else f"/{MASK}"
        query = "&".join(self._shown(k, v) for k, v in self.params.items())
        return f"{self.scheme}://{userinfo}{host}{port}{path}" + (f"?{query}" if query else "")

    def _authority_cut_short(self) -> bool:
        """An '@' after the host: an unencoded '/', '?' or '#' in a password ended the authority
        early, so the "host" and "port" are pieces of the password."""
        if "@" in self.path:
            return True
        return any("@" in name or ("@" in value and name not in URL_PARAMS) for name, value in self.params.items())

    @staticmethod
    def _shown(name: str, value: str) -> str:
        """``name=value`` for display, each part masked unless known to be safe."""
        if name in SAFE_PARAMS:
            shown = quote(value, safe="/:,")
        elif name in URL_PARAMS:
            shown = mask_endpoint(value)
        else:
            shown = MASK
        return f"{param_name(name)}={shown}"

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


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``name`` (``timout`` → ``timeout``), or None."""

    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def _guesses(unknown: Iterable[str], known: Iterable[str]) -> list[str]:
    return [guess for name in unknown if (guess := did_you_mean(name, known)) is not None]


def parse_url(text: str) -> TransportURL:
    """Parse one transport URL; raise :class:`ConfigurationError` naming what is wrong."""
    if "://" not in text:
        raise ConfigurationError(
            f"{_mask_raw(text)!r} is not a transport URL; expected scheme://…, e.g. smtp://user:pass@host:587"
        )
    scheme = text.split("://", 1)[0].lower()
    if not _SCHEME.fullmatch(scheme):
        raise ConfigurationError(f"{_mask_raw(text)!r}: the URL scheme is not valid; expected e.g. smtp://")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:  # urllib's text quotes URL pieces, perhaps of a password: not shown
        problem = (
            "the port is out of range 0-65535" if "out of range" in str(error) else "the host or port is not valid"
        )
        raise ConfigurationError(
            f"{_mask_raw(text)!r}: {problem}; percent-encode '/', '?', '#', '@', '(', ')' and spaces "
            "in a user name or password"
        ) from None
    if parts.fragment:
        raise ConfigurationError(f"{_mask_raw(text)!r}: '#' must be percent-encoded (%23) in a URL")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in params:
            raise ConfigurationError(f"{_mask_raw(text)!r}: parameter {param_name(key)!r} given twice")
        params[key] = value
    username = unquote(parts.username) if parts.username is not None else None
    password = Secret(unquote(parts.password)) if parts.password is not None else None
    return TransportURL(
        scheme=scheme,
        username=username or None if password is None else username,
        password=password,
        host=parts.hostname or None,
        port=port,
        path=unquote(parts.path),
        params=params,
    )


@conceal_traceback
def parse(text: str | Secret) -> Node:
    """Parse a transport URL or a composite expression such as ``failover(a b)``.

    ``text`` may be a :class:`~mailcore.redact.Secret`; it is revealed only below this frame,
    and a :class:`ConfigurationError` leaves without those frames (see
    :func:`~mailcore.redact.conceal_traceback`).
    """
    tokens = _tokenize(reveal(text))
    if not tokens:
        raise ConfigurationError("the transport URL is empty; set MAILCORE_URL or pass a URL")
    node, rest = _parse_node(tokens)
    if rest:
        after = f"a {node.scheme}:// URL" if isinstance(node, TransportURL) else f"{node.kind}(...)"
        raise ConfigurationError(
            f"unexpected text after {after}: items are separated by white space, so percent-encode a space "
            "in a password (%20), or wrap several transports in failover(...)"
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
                "cannot parse the transport URL: '(' and ')' belong to failover(...), roundrobin(...) or "
                "weighted(...); percent-encode them (%28, %29) in a password"
            )
        tokens.append(match.group("open") or match.group("close") or match.group("word"))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _parse_node(tokens: list[str]) -> tuple[Node, list[str]]:
    head, rest = tokens[0], tokens[1:]
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
        child, rest = _parse_node(rest)
        children.append(child)
    if not children:
        raise ConfigurationError(f"{kind}() needs at least one transport")
    return Composite(kind, tuple(children)), rest


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals: traffic that never leaves the machine."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def param_name(name: str, known: Iterable[str] = ()) -> str:
    """A query parameter's name for display: itself if known or close to a known name, else ``***``.

    ``?SG.key`` (a key typed where a parameter goes) has a name and no value, and an unencoded
    ``?`` in a password turns the rest of it into names: those are masked. A misspelling such
    as ``apikey`` or ``timout`` is close to a known name and shown, so the error can say which
    parameter is wrong.
    """
    vocabulary = KNOWN_NAMES | frozenset(known)
    if name in vocabulary or did_you_mean(name, vocabulary) is not None:
        return name
    return MASK


def mask_endpoint(value: str) -> str:
    """An ``endpoint_url`` for display: scheme, host, port and path; userinfo and query masked."""
    try:
        parts = urlsplit(value)
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return _mask_raw(value)
    if not parts.scheme or not parts.netloc:
        return _mask_raw(value)
    userinfo = f"{MASK}@" if "@" in parts.netloc else ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    query = f"?{MASK}" if parts.query else ""
    fragment = f"#{MASK}" if parts.fragment else ""
    return f"{parts.scheme}://{userinfo}{host}{port}{quote(parts.path, safe='/')}{query}{fragment}"


def _mask_raw(text: str) -> str:
    """A URL that failed to parse, for an error text: its scheme and ``***``, nothing else.

    Where such a URL breaks cannot be trusted (an unencoded ``/``, ``?`` or space moves a piece
    of a password into the port, the path, a parameter or the next item), so none of it shows.
    """
    scheme, sep, _ = text.partition("://")
    scheme = scheme.strip().lower()
    if sep and _SCHEME.fullmatch(scheme):
        return f"{scheme}://{MASK}"
    return MASK


def mask_url(text: str | Secret) -> str:
    """Mask secrets in any transport URL or composite expression, parsable or not."""
    try:
        return parse(text).masked()
    except (ConfigurationError, RecursionError):
        return _mask_raw(reveal(text))
