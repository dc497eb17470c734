"""``mailcore.adapters.django.EmailBackend``: Django's email API, delivered by a mailcore Mailer.

Configured in one of three ways (the same options each time, see :mod:`.options`):

* ``EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"`` with ``MAILCORE = {"URL": ...}``;
* Django 6.1+ ``MAILERS = {"default": {"BACKEND": "mailcore.adapters.django.EmailBackend",
  "OPTIONS": {"url": ...}}}``, one policy per alias;
* nothing else: Django's own ``EMAIL_HOST``/``EMAIL_PORT``/… become one ``smtp://`` URL.

Django builds a backend for every ``send_mail()``; so that each call does not pay a connection
(and a CA-bundle load), the backend sends through the process-wide Mailer for its configuration
(:mod:`mailcore.shared`): connections stay open between calls, are health-checked before reuse,
closed after a minute unused, dropped in forked children and closed at exit. ``open()``/
``close()`` then change nothing. With ``queue``, with options that are not plain data, or with
``MAILCORE_REUSE=0``, the instance owns its Mailer: ``open()``/``close()`` (or ``with
backend:``) keep its connections open for a batch, otherwise each ``send_messages`` call closes
them when it is done, as Django's SMTP backend does. Sends on one instance are serialised by a
lock, so an instance shared between threads is safe.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import django  # type: ignore[import-untyped,unused-ignore]
from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]
from django.core.mail.backends.base import BaseEmailBackend  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.conversion import to_message
from mailcore.adapters.django.events import events_outbox_url
from mailcore.adapters.django.options import (
    BackendOptions,
    OptionError,
    read_options,
    smtp_url,
    with_suppression_store,
)
from mailcore.config import parse
from mailcore.errors import ConfigurationError, SendError, failure_summary
from mailcore.mailer import Mailer, failure_log_level
from mailcore.message import Message
from mailcore.redact import Secret, install_log_filter

__all__ = ["SETTINGS_NAME", "EmailBackend", "resolve_url"]

log = install_log_filter(logging.getLogger("mailcore"))
#: The settings dict read when the backend is used as ``EMAIL_BACKEND``.
SETTINGS_NAME = "MAILCORE"
#: Django 6.1 added ``MAILERS``, backend aliases and ``InvalidMailer``.
HAS_MAILERS = django.VERSION >= (6, 1)

_EMAIL_SETTINGS = {  # Django setting → SMTP option
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_TIMEOUT": "timeout",
    "EMAIL_SSL_KEYFILE": "ssl_keyfile",
    "EMAIL_SSL_CERTFILE": "ssl_certfile",
}


_CREDENTIALS = ("username", "password")


class EmailBackend(BaseEmailBackend):  # type: ignore[misc,unused-ignore]
    """A Django email backend that sends through a :class:`mailcore.Mailer`.

    ``send_messages`` returns how many messages were sent (or queued, with ``queue``). With
    ``fail_silently`` a :class:`mailcore.SendError` is logged and the message not counted; a
    configuration error or an invalid message is always raised.
    """

    def __init__(
        self,
        fail_silently: bool | None = None,
        *,
        alias: str | None = None,
        _ignore_unknown_kwargs: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if HAS_MAILERS:
            super().__init__(alias=alias)
        else:
            super().__init__()
            self.alias = alias
        if fail_silently is not None:
            kwargs["fail_silently"] = fail_silently
        self.options = _backend_options(alias, kwargs, frozenset(_ignore_unknown_kwargs or ()))
        self.fail_silently = self.options.fail_silently
        self.url = resolve_url(self.options, alias)
        self._mailer: Mailer | None = None
        self._batch = False
        self._lock = threading.RLock()

    # -- the Mailer --------------------------------------------------------------------------

    @property
    def mailer(self) -> Mailer:
        """The Mailer this backend sends through, built on first use."""
        with self._lock:
            if self._mailer is None:
                options = self.options.mailer_options()
                if "state" not in options and not os.environ.get("MAILCORE_STATE_URL"):
                    # Django builds a backend per send_mail(): keep breakers and rate limits in
                    # one process-wide store per alias, or they would reset on every call.
                    options["state"] = f"memory://django.{self.alias or 'default'}"
                events = events_outbox_url()
                if events is not None:  # the suppression list the project's receivers feed
                    options = with_suppression_store(options, events)
                self._mailer = _mailer_for(self.url, self.options, options)
            return self._mailer

    def open(self) -> bool | None:
        """Keep connections open until :meth:`close`; True when this call opened them.

        Returns None when opening failed and ``fail_silently`` swallowed the error, as Django's
        SMTP backend does.
        """
        with self._lock:
            if self._batch:
                return False
            try:
                self.mailer.open()
            except SendError as error:
                if not self.fail_silently:
                    raise
                log.warning("opening %s failed (fail_silently): %s", self.mailer, failure_summary(error))
                return None
            self._batch = True
            return True

    def close(self) -> None:
        with self._lock:
            self._batch = False
            if self._mailer is not None:
                self._mailer.close()

    # -- sending -----------------------------------------------------------------------------

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Send (or enqueue) each message; return how many went out.

        Every message is converted before the first is sent, so an invalid one in a batch
        raises before anything leaves.
        """
        if not email_messages:
            return 0
        messages = [self.to_message(m) for m in email_messages if m.recipients()]
        if not messages:
            return 0
        with self._lock:
            mailer = self.mailer
            try:
                return sum(self._deliver(mailer, message) for message in messages)
            finally:
                if not self._batch:
                    mailer.close()

    def to_message(self, email_message: Any) -> Message:
        """The :class:`mailcore.Message` for one Django message (override to add fields)."""
        site_default = settings.DEFAULT_FROM_EMAIL
        return to_message(
            email_message,
            self.options.from_email or site_default,
            site_default_from=site_default,
            localtime=bool(getattr(settings, "EMAIL_USE_LOCALTIME", False)),
        )

    def _deliver(self, mailer: Mailer, message: Message) -> int:
        try:
            # fail_silently: this backend logs the failure itself, once, at WARNING, no traceback
            with failure_log_level(None) if self.fail_silently else nullcontext():
                if self.options.queue:
                    mailer.enqueue(message)
                else:
                    mailer.send(message)
        except SendError as error:
            if not self.fail_silently:
                raise
            log.warning("message %s not sent (fail_silently): %s", message.message_id, failure_summary(error))
            return 0
        return 1

    def __repr__(self) -> str:
        alias = f" {self.alias!r}" if self.alias else ""
        return f"<mailcore EmailBackend{alias} {parse(self.url).masked()}>"


def _mailer_for(url: str | Secret, options: BackendOptions, mailer_options: dict[str, Any]) -> Mailer:
    """The process-wide shared Mailer for this configuration, or a private one for queueing.

    ``QUEUE = "db"`` (or ``django://ALIAS``) opens :class:`~mailcore.adapters.django.outbox.DjangoOutbox`
    (the ``django`` queue scheme), writing through Django's connection, so the message commits
    with the caller's transaction.
    """
    if options.queue:
        return Mailer(url, from_email=options.from_email, **mailer_options)
    from mailcore.shared import shared_mailer

    return shared_mailer(url, from_email=options.from_email, **mailer_options)


# -- configuration -----------------------------------------------------------------------------


def _backend_options(alias: str | None, kwargs: Mapping[str, Any], ignore: frozenset[str]) -> BackendOptions:
    """Options from MAILERS OPTIONS (``alias`` given) or ``settings.MAILCORE`` + keyword args.

    A keyword argument of None means "not given", as for Django's own backends (Django 5.2's
    ``send_mail`` always passes ``username=None, password=None``).
    """
    kwargs = {name: value for name, value in kwargs.items() if value is not None}
    if alias is not None:
        return _read(kwargs, upper=False, ignore=ignore, where=None, alias=alias)
    base = getattr(settings, SETTINGS_NAME, None) or {}
    if not isinstance(base, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTINGS_NAME} must be a dict")
    from_settings = _read(base, upper=True, ignore=frozenset(), where=SETTINGS_NAME, alias=None)
    if not kwargs:
        return from_settings
    overrides = _read(kwargs, upper=False, ignore=ignore, where="EmailBackend()", alias=None)
    return _merge(from_settings, overrides, kwargs)


def _read(
    raw: Mapping[str, Any], *, upper: bool, ignore: frozenset[str], where: str | None, alias: str | None
) -> BackendOptions:
    try:
        return read_options(raw, upper=upper, ignore=ignore)
    except OptionError as error:
        raise _option_error(str(error), where, alias) from None


def _merge(base: BackendOptions, overrides: BackendOptions, given: Mapping[str, Any]) -> BackendOptions:
    """Keyword arguments (``get_connection(fail_silently=True)``) win over settings.MAILCORE."""
    changes = {name: getattr(overrides, name) for name in vars(overrides) if name in given}
    smtp = {**base.smtp, **overrides.smtp}
    if overrides.url or base.url:  # empty credentials mean "do not log in": the URL decides
        smtp = {name: value for name, value in smtp.items() if not (name in _CREDENTIALS and value == "")}
    if (overrides.url or base.url) and smtp:
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}: SMTP options ({', '.join(sorted(smtp))}) cannot be combined with a URL; "
            "put the credentials in the URL"
        )
    return replace(base, **changes, smtp=smtp)


def _option_error(text: str, where: str | None, alias: str | None) -> ImproperlyConfigured:
    """The exception Django raises for a bad option: InvalidMailer on 6.1+, naming the alias
    (``MAILERS['default']: 'queue' must be …``, as Django words its own option errors)."""
    if alias is not None and HAS_MAILERS:
        from django.core.mail import InvalidMailer  # type: ignore[import-untyped,unused-ignore]

        return InvalidMailer(text, alias=alias)
    return InvalidBackendOptions(f"{where or f'MAILERS[{alias!r}]'}: {text}")


class InvalidBackendOptions(ImproperlyConfigured, ValueError):  # type: ignore[misc,unused-ignore]
    """A bad backend option or EMAIL_* setting: ``ImproperlyConfigured``, and a ``ValueError``
    as Django's SMTP backend raises for conflicting settings."""


def resolve_url(options: BackendOptions, alias: str | None = None) -> Secret:
    """The transport URL the backend sends through; parsed here so a typo fails at start-up.

    Kept a :class:`Secret`: Django's debug page prints the local variables of every frame.
    """
    try:
        url = options.url or Secret(_smtp_from(options, alias))
        parse(url)
    except (OptionError, ConfigurationError) as error:
        where = SETTINGS_NAME if options.url or options.smtp else "EMAIL_* settings"
        raise _option_error(str(error), where if alias is None else None, alias) from None
    return url


def _smtp_from(options: BackendOptions, alias: str | None) -> str:
    if alias is not None:  # worded as Django's SMTP backend words these MAILERS errors
        if "host" not in options.smtp:
            raise OptionError("OPTIONS must define 'host'. Or give 'url', a mailcore transport URL.")
        if options.smtp.get("use_ssl") and options.smtp.get("use_tls"):
            raise OptionError("The 'use_ssl' and 'use_tls' OPTIONS are incompatible. Set at most one of them to True.")
        return smtp_url(**options.smtp)
    values = {option: getattr(settings, name) for name, option in _EMAIL_SETTINGS.items()}
    values.update(options.smtp)
    return smtp_url(**values)
