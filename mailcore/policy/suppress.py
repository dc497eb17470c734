"""The suppression layer: recipients on the suppression list are refused before any attempt.

It sits outermost in the stack, so a suppressed address never reaches a provider, a rate-limit
slot or a circuit breaker. Per message it looks every recipient up (one query in the outbox's
suppression list: the ``suppressions`` table of a SQLite outbox file, ``mailcore_suppressions``
of a PostgreSQL outbox) and:

* a recipient suppressed for all mail (``*``), or for a category the message carries (one of
  its ``tags``), is **refused** with a per-recipient reason; the message goes to the others and
  the refused ones are listed in ``SendResult.rejected``. When nobody is left it raises
  :class:`~mailcore.errors.RecipientSuppressed` (a ``MessageRejected``: not retried, not
  failed over; an outbox marks the row failed with the reasons);
* a recipient only one provider refuses (scope ``provider:<name>``, that provider's own list)
  makes the message **avoid that provider**: the failover or balancer skips it and uses another
  one. When every provider of the stack refuses the address it is refused like above.

Bypass: a message carrying a tag listed in ``SuppressionPolicy.bypass`` (say ``otp``: a
one-time password the user just asked for) is not checked at all.

Enable it with ``Mailer(url, suppression=True)`` (the outbox of ``MAILCORE_OUTBOX``),
``suppression="sqlite:////path"`` or ``"postgresql://…"``, a :class:`SuppressionPolicy`, or from
the environment: ``MAILCORE_SUPPRESSION=on`` (or an outbox URL) and
``MAILCORE_SUPPRESSION_BYPASS=otp,login``. The Django-database outbox has no suppression list
yet: name a SQLite or PostgreSQL outbox (docs/events.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailcore.capabilities import leaf_transports
from mailcore.errors import ConfigurationError, RecipientSuppressed
from mailcore.message import Message
from mailcore.policy.base import Policy, is_available
from mailcore.policy.errors import RouteSkipped
from mailcore.result import SendResult
from mailcore.transport import CheckStep, Transport

if TYPE_CHECKING:
    from mailcore.outbox.events import Suppression

__all__ = [
    "SUPPRESSION_ENV",
    "ProviderSuppressed",
    "Suppressing",
    "SuppressionPolicy",
    "avoided",
    "check_recipients",
    "provider_of",
]

SUPPRESSION_ENV = "MAILCORE_SUPPRESSION"
BYPASS_ENV = "MAILCORE_SUPPRESSION_BYPASS"
ALL = "*"  # mailcore.outbox.events.ALL, not imported: the outbox package loads only when used
_ON = ("1", "on", "true", "yes")
#: Outbox URLs whose database keeps a suppression list.
_STORE_PREFIXES = ("sqlite:///", "postgresql://", "postgres://", "postgresql+", "django://")
_OFF = ("", "0", "off", "false", "no")

#: Providers the message being sent must avoid (their own list refuses one of its recipients).
_avoid: ContextVar[frozenset[str]] = ContextVar("mailcore_avoid_providers", default=frozenset())


@dataclass(frozen=True)
class SuppressionPolicy:
    """Options of the suppression layer.

    :param store: the outbox URL whose suppression list is read (``sqlite:///path``,
        ``postgresql://…`` or ``django://ALIAS``, Django's database on SQLite or PostgreSQL);
        ``None``: ``MAILCORE_OUTBOX``, else the per-user outbox file (the Django backend names
        Django's database when the outbox is there). Shown with its password masked.
    :param bypass: categories (message tags) whose messages are never checked — mail the user
        has just asked for, such as one-time passwords or password resets.
    """

    store: str | None = None
    bypass: tuple[str, ...] = ()

    def __repr__(self) -> str:
        store = None if self.store is None else _masked(self.store)
        return f"SuppressionPolicy(store={store!r}, bypass={self.bypass!r})"

    def __post_init__(self) -> None:
        if isinstance(self.bypass, str):
            object.__setattr__(self, "bypass", tuple(t.strip() for t in self.bypass.split(",") if t.strip()))
        object.__setattr__(self, "bypass", tuple(self.bypass))

    @classmethod
    def coerce(cls, value: object, environ: Mapping[str, str] | None = None) -> SuppressionPolicy | None:
        """``True``/a URL/a dict/a policy → a policy; ``None``/``False`` → off. The environment
        (``MAILCORE_SUPPRESSION``, ``MAILCORE_SUPPRESSION_BYPASS``) is read only for ``"env"``."""
        if value == "env":
            env = os.environ if environ is None else environ
            setting = env.get(SUPPRESSION_ENV, "").strip()
            bypass = env.get(BYPASS_ENV, "")
            if setting.lower() in _OFF:
                return None
            if setting.lower() in _ON:
                return cls(bypass=bypass)  # type: ignore[arg-type]  # split in __post_init__
            if setting.startswith(_STORE_PREFIXES):
                return cls(store=setting, bypass=bypass)  # type: ignore[arg-type]
            raise ConfigurationError(
                f"{SUPPRESSION_ENV}={_masked(setting)!r}: use on, off, or a sqlite:///, postgresql:// or django:// outbox URL "
                "(see docs/events.md)"
            )
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(store=value)
        if isinstance(value, Mapping):
            from mailcore.policy.fields import check_fields

            values = dict(value)
            if isinstance(values.get("bypass"), list | tuple | set | frozenset):
                values["bypass"] = ",".join(values["bypass"])
            check_fields(_Fields, values, "suppression")
            return cls(**values)
        raise ConfigurationError(
            f"suppression= takes True, a sqlite:///, postgresql:// or django:// outbox URL, a SuppressionPolicy, a dict or None, "
            f"not {type(value).__name__}"
        )


@dataclass(frozen=True)
class _Fields:
    """The dict form's fields and types (``bypass`` as a comma-separated string or a list)."""

    store: str | None = None
    bypass: str = ""


class ProviderSuppressed(RouteSkipped):
    """This provider refuses a recipient of the message (its own suppression list): skipped,
    nothing sent; the failover or balancer moves to the next provider."""


def _masked(url: str) -> str:
    from mailcore.outbox.pgurl import masked_url

    return masked_url(url)


def provider_of(transport: Transport) -> str:
    """The provider name of a leaf transport: its URL scheme (``sendgrid://…`` → ``sendgrid``)."""
    return transport.name.split("://", 1)[0].lower()


def avoided(transport: Transport) -> ProviderSuppressed | None:
    """The skip for a branch of the stack every leaf of which the current message must avoid."""
    avoid = _avoid.get()
    if not avoid:
        return None
    providers = {provider_of(leaf) for leaf in leaf_transports(transport)}
    if providers and providers <= avoid:
        return ProviderSuppressed(
            f"{', '.join(sorted(providers))} refuses a recipient (its own suppression list)", transport=transport.name
        )
    return None


@contextmanager
def avoiding(providers: frozenset[str]) -> Iterator[None]:
    token = _avoid.set(providers)
    try:
        yield
    finally:
        _avoid.reset(token)


def check_recipients(
    recipients: Sequence[str],
    entries: Mapping[str, Sequence[Suppression]],
    *,
    tags: Sequence[str],
    providers: frozenset[str],
) -> tuple[dict[str, str], frozenset[str]]:
    """Which recipients to refuse (address → reason) and which providers to avoid (pure).

    ``entries`` are the suppression entries per lower-cased address, ``tags`` the message's
    categories, ``providers`` the provider names of the stack's leaves.
    """
    refused: dict[str, str] = {}
    avoid: set[str] = set()
    tag_set = set(tags)
    for address in recipients:
        found = entries.get(address.strip().lower(), ())
        blocking = [e for e in found if e.scope == ALL or e.scope in tag_set]
        if blocking:
            refused[address] = _reason(blocking[0])
            continue
        refusing = {e.scope.split(":", 1)[1] for e in found if e.scope.startswith("provider:")}
        if refusing and providers and providers <= refusing:
            listed = [e for e in found if e.scope.startswith("provider:")]
            refused[address] = _reason(listed[0]) + " — and every configured provider refuses it"
        else:
            avoid |= refusing
    return refused, frozenset(avoid)


def _reason(entry: Suppression) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(entry.created_at))
    what = {
        "hard_bounce": "hard bounce",
        "complaint": "spam complaint",
        "unsubscribe": "unsubscribed" + ("" if entry.scope == ALL else f" from {entry.scope}"),
        "provider": f"on {entry.scope.split(':', 1)[-1]}'s own suppression list",
        "manual": "added by hand",
    }.get(entry.reason, entry.reason)
    detail = f": {entry.detail}" if entry.detail else ""
    return f"suppressed ({what}, {entry.source}, {day}){detail}"


class Suppressing(Policy):
    """The suppression layer around a whole stack (see the module docs).

    Deliberately not a :class:`~mailcore.policy.base.Wrapper`: bulk sending cannot mirror it
    for provider batches (it filters the recipients of each message), so with it a bulk send
    falls back to one message per recipient, each one checked.

    :param outbox: an open SQLite or PostgreSQL outbox to read (tests); default: opened from
        ``policy.store`` on the first send.
    """

    def __init__(self, inner: Transport, policy: SuppressionPolicy, *, outbox: Any = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.policy = policy
        self._outbox = outbox
        self._owns = outbox is None
        self._lock = threading.Lock()
        self._providers = frozenset(provider_of(leaf) for leaf in leaf_transports(inner))

    def children(self) -> Sequence[Transport]:
        return (self.inner,)

    def available(self) -> bool:
        return is_available(self.inner)

    def check(self) -> Iterator[CheckStep]:
        """``mailcore check`` looks through the layer at the provider."""
        return self.inner.check()

    def describe(self) -> str:
        bypass = f", bypass for tags {', '.join(self.policy.bypass)}" if self.policy.bypass else ""
        where = _masked(self.policy.store) if self.policy.store else "the outbox of MAILCORE_OUTBOX"
        return f"suppression list ({where}{bypass})"

    def _store(self) -> Any:
        with self._lock:
            if self._outbox is None:
                from mailcore.outbox.eventsql import open_event_store

                self._outbox = open_event_store(self.policy.store)
            return self._outbox

    def send(self, message: Message) -> SendResult:
        if self.policy.bypass and set(message.tags) & set(self.policy.bypass):
            return self.inner.send(message)
        from mailcore.outbox.suppressions import lookup

        addresses = [a.email for a in message.recipients]
        refused, avoid = check_recipients(
            addresses, lookup(self._store(), addresses), tags=message.tags, providers=self._providers
        )
        if not refused and not avoid:
            return self.inner.send(message)
        if len(refused) == len(addresses):
            listed = "; ".join(f"{address}: {why}" for address, why in refused.items())
            raise RecipientSuppressed(
                f"every recipient is on the suppression list ({listed})", recipients=refused, transport=self.name
            )
        remaining = _without(message, set(refused)) if refused else message
        with avoiding(avoid):
            result = self.inner.send(remaining)
        if not refused:
            return result
        return SendResult(
            message_id=result.message_id,
            transport=result.transport,
            provider_message_id=result.provider_message_id,
            attempts=result.attempts,
            rejected={**refused, **result.rejected},
        )

    def close(self) -> None:
        super().close()
        with self._lock:
            if self._outbox is not None and self._owns:
                self._outbox.close()
                self._outbox = None


def _without(message: Message, refused: set[str]) -> Message:
    """``message`` without the ``refused`` recipients (Message-ID kept)."""
    to = [a for a in message.to if a.email not in refused]
    cc = [a for a in message.cc if a.email not in refused]
    bcc = [a for a in message.bcc if a.email not in refused]
    return message.replace(to=to, cc=cc, bcc=bcc)
