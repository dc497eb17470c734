"""The backend's options: one set, spelt upper-case in ``settings.MAILCORE`` and lower-case in
``MAILERS[...]["OPTIONS"]`` (or as ``get_connection()`` keyword arguments).

=================  =========================================================================
``url``            a transport URL or composite (``failover(ses://?region=eu-west-1 smtp://…)``)
``from_email``     sender for messages that did not choose one (instead of DEFAULT_FROM_EMAIL)
``retry``          retry policy, passed to :class:`mailcore.Mailer` as ``retry=``
``policy``         further :class:`mailcore.Mailer` keyword options (a dict)
``queue``          ``True``, ``"celery"``, ``"db"`` (Django's own database, committed with the
                   caller's transaction) or an outbox URL: ``send_messages`` enqueues instead
``allow_console``  let the console transport pass the system check while ``DEBUG`` is False
``fail_silently``  swallow :class:`mailcore.SendError` (never configuration or message errors)
``host`` …         Django's SMTP options (``host``, ``port``, ``username``, ``password``,
                   ``use_tls``, ``use_ssl``, ``timeout``, ``ssl_keyfile``, ``ssl_certfile``),
                   turned into one ``smtp://`` or ``smtps://`` URL when ``url`` is not given
=================  =========================================================================

``url`` (and ``password``) may be a :class:`mailcore.redact.Secret`, so that Django's error
reports, which print every setting whose name does not look secret, show ``***`` instead. The
resolved URL stays a Secret until the transport is built (see :func:`mailcore.policy.build`), so
a configuration error's debug page does not show it in a frame's local variables either.

Everything here is pure: no settings are read, so it is tested without Django configured.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from mailcore.redact import Secret

__all__ = [
    "OPTION_NAMES",
    "SMTP_OPTION_NAMES",
    "BackendOptions",
    "OptionError",
    "UnknownOptions",
    "read_options",
    "smtp_url",
    "with_suppression_store",
]

#: mailcore's own options (lower-case spelling).
OPTION_NAMES = frozenset({"url", "from_email", "retry", "policy", "queue", "allow_console", "fail_silently"})
#: ``queue`` values that name a queue kind (anything else is an outbox URL).
QUEUE_KINDS = frozenset({"outbox", "celery", "db"})
#: The outbox URL of ``queue="db"``: the database Django's routers pick for the outbox model.
DB_QUEUE_URL = "django://"
#: Django's SMTP backend options, accepted so that swapping the BACKEND changes nothing else.
SMTP_OPTION_NAMES = frozenset(
    {"host", "port", "username", "password", "use_tls", "use_ssl", "timeout", "ssl_keyfile", "ssl_certfile"}
)


class OptionError(ValueError):
    """An option has a value of the wrong kind; the text names the option."""


class UnknownOptions(OptionError):
    """Options nobody knows; ``names`` keeps the spelling the user wrote."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(f"Unknown options {', '.join(repr(n) for n in names)}.")


@dataclass(frozen=True)
class BackendOptions:
    """The backend's resolved options (see the module docstring)."""

    url: Secret | None = None  # always a Secret: a URL usually holds a credential
    from_email: str | None = None
    retry: Any = None
    policy: Mapping[str, Any] = field(default_factory=dict)
    queue: bool | str = False
    allow_console: bool = False
    fail_silently: bool = False
    smtp: Mapping[str, Any] = field(default_factory=dict, repr=False)  # holds the password

    def mailer_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`mailcore.Mailer` besides the URL."""
        options: dict[str, Any] = dict(self.policy)
        if self.retry is not None:
            options["retry"] = self.retry
        django_url = django_outbox_url(self.queue)
        if django_url is not None:
            options["outbox"] = django_url
        elif isinstance(self.queue, str):
            options["queue" if self.queue in QUEUE_KINDS else "outbox"] = self.queue
        return options


def with_suppression_store(options: dict[str, Any], store: str) -> dict[str, Any]:
    """``options`` (Mailer keyword arguments) with the suppression layer reading the list kept
    beside ``store`` when it was turned on without naming a store (``"suppression": True`` or a
    dict without ``"store"``): the list the project's webhook receivers feed. Anything else
    (off, ``"env"``, a URL, a store named) is left as it is."""
    value = options.get("suppression")
    if value is True:
        return {**options, "suppression": {"store": store}}
    if isinstance(value, Mapping) and value.get("store") is None:
        return {**options, "suppression": {**value, "store": store}}
    return options


def django_outbox_url(queue: bool | str) -> str | None:
    """The ``django://`` outbox URL a ``queue`` value names (``"db"`` or ``django://ALIAS``),
    or None when the queue is not in Django's database."""
    if queue == "db":
        return DB_QUEUE_URL
    if isinstance(queue, str) and queue.startswith("django:"):
        return queue
    return None


def read_options(raw: Mapping[str, Any], *, upper: bool, ignore: frozenset[str] = frozenset()) -> BackendOptions:
    """Validate ``raw`` (``MAILCORE`` when ``upper``, else OPTIONS/kwargs) into options.

    Raises :class:`UnknownOptions` for names nobody knows (except those in ``ignore``) and
    :class:`OptionError` for a value of the wrong kind, naming the option as it was written.
    """
    known = OPTION_NAMES | SMTP_OPTION_NAMES
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in raw.items():
        canonical = name.lower() if upper and name.isupper() else name
        if canonical in known and (name.isupper() if upper else name.islower()):
            values[canonical] = value
        elif name not in ignore:
            unknown.append(name)
    if unknown:
        raise UnknownOptions(unknown)

    def spelt(name: str) -> str:
        return name.upper() if upper else name

    smtp = {k: v for k, v in values.items() if k in SMTP_OPTION_NAMES}
    url = _optional_secret(values.get("url"))
    if url is not None and smtp:
        names = ", ".join(repr(spelt(k)) for k in sorted(smtp))
        raise OptionError(f"give either {spelt('url')!r} or the SMTP options ({names}), not both")
    queue = values.get("queue", False)
    if isinstance(queue, str):
        queue = queue.strip()
    if not (isinstance(queue, bool) or queue in QUEUE_KINDS or (isinstance(queue, str) and ":" in queue)):
        raise OptionError(
            f"{spelt('queue')!r} must be True, False, 'celery', 'db' (Django's database) or an outbox URL "
            "such as sqlite:////var/lib/app/outbox.db (four slashes: an absolute path)"
        )
    policy = values.get("policy") or {}
    if not isinstance(policy, Mapping):
        raise OptionError(f"{spelt('policy')!r} must be a dict of mailcore.Mailer options")
    return BackendOptions(
        url=url,
        from_email=_optional_str(values.get("from_email")),
        retry=values.get("retry"),
        policy=dict(policy),
        queue=queue,
        allow_console=_bool(values.get("allow_console", False), spelt("allow_console")),
        fail_silently=_bool(values.get("fail_silently", False), spelt("fail_silently")),
        smtp=smtp,
    )


def smtp_url(
    host: str,
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    use_tls: bool = False,
    use_ssl: bool = False,
    timeout: float | None = None,
    ssl_keyfile: str | None = None,
    ssl_certfile: str | None = None,
) -> str:
    """The mailcore URL that sends the way Django's SMTP backend does with these options.

    * ``use_ssl`` → ``smtps://`` (TLS from the first byte); ``use_tls`` → ``?tls=starttls``.
    * Neither: Django talks plaintext and never tries STARTTLS, so the URL says ``?tls=none``
      (mailcore's own default off loopback is to require STARTTLS).
    * Credentials are used only when both are set, as Django logs in only then; they are
      percent-encoded, so ``@``, ``:`` and ``/`` in a password are safe.
    * The port defaults as Django's does: 465 with SSL, 587 with TLS, else 25.
    """
    if use_tls and use_ssl:
        raise OptionError(
            "use_tls and use_ssl (EMAIL_USE_TLS/EMAIL_USE_SSL): EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set one of those "
            "settings to True."
        )
    host = str(host or "").strip()
    if not host:
        raise OptionError("the SMTP host is empty (EMAIL_HOST or the 'host' option)")
    scheme = "smtps" if use_ssl else "smtp"
    if port is None:
        port = 465 if use_ssl else 587 if use_tls else 25
    userinfo = ""
    if username and password:
        userinfo = f"{quote(_plain(username), safe='')}:{quote(_plain(password), safe='')}@"
    params: dict[str, str] = {}
    if not use_ssl:
        params["tls"] = "starttls" if use_tls else "none"
    if timeout is not None:
        params["timeout"] = _number_text(timeout)
    if ssl_certfile:
        params["certfile"] = str(ssl_certfile)
    if ssl_keyfile:
        params["keyfile"] = str(ssl_keyfile)
    query = f"?{urlencode(params, safe='/:')}" if params else ""
    return f"{scheme}://{userinfo}{_url_host(host)}:{int(port)}{query}"


def _url_host(host: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _number_text(value: float) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def _plain(value: Any) -> str:
    """The text of a setting: a Secret revealed, a lazy translation string forced."""
    return value.reveal() if isinstance(value, Secret) else str(value)


def _optional_secret(value: Any) -> Secret | None:
    """A URL option kept as a :class:`Secret`, so no frame or repr shows it revealed."""
    if value is None:
        return None
    text = _plain(value).strip()
    return Secret(text) if text else None


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    return _plain(value).strip() or None


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(f"{name!r} must be True or False, not {value!r}")
    return value
