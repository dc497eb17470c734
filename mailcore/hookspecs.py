"""Hook specifications: what a mailcore plugin can implement.

A plugin is a module registered under the ``mailcore`` entry-point group. It implements any of
the hooks below with :data:`mailcore.hookimpl`. Hooks wire things together; no provider is ever
called *through* a hook, and an observer hook that raises is logged and never breaks a send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from mailcore.errors import DeliveryFailed
    from mailcore.events import DeliveryEvent
    from mailcore.message import Message
    from mailcore.registry import QueueRegistry, TransportRegistry
    from mailcore.result import Attempt, SendResult
    from mailcore.webhooks.registry import WebhookRegistry

hookspec = pluggy.HookspecMarker("mailcore")


@hookspec
def mailcore_register_transports(registry: TransportRegistry) -> None:
    """Register the transport factories this plugin provides.

    :param registry: call ``registry.add(scheme, "package.module:factory")`` once per URL
        scheme. The factory is imported only when a URL with that scheme is built, so keep the
        plugin's entry module free of heavy imports (SDKs, HTTP clients).

    The factory is called with a :class:`mailcore.config.TransportURL` and returns a
    :class:`mailcore.transport.Transport`. Registering a scheme another plugin already
    registered raises :class:`mailcore.errors.ConfigurationError` naming both plugins.
    """


@hookspec
def mailcore_register_queues(registry: QueueRegistry) -> None:
    """Register the queue backends (outbox stores, task queues) this plugin provides.

    :param registry: call ``registry.add(scheme, "package.module:factory")`` once per URL
        scheme. ``Mailer(queue=...)``, ``MAILCORE_OUTBOX`` and ``mailcore worker --outbox``
        dispatch on the scheme (``postgresql://…``; a bare name such as ``celery`` works too).
        The factory is imported only when such a queue is opened.

    The factory is called with the URL (or bare name) and returns a
    :class:`mailcore.outbox.api.MessageQueue`; a durable table that ``mailcore worker`` drains
    returns a :class:`mailcore.outbox.api.OutboxStore`. Registering a scheme another plugin
    already registered raises :class:`mailcore.errors.ConfigurationError` naming both plugins.
    See docs/architecture.md, "Queue backends".
    """


@hookspec
def mailcore_message_sent(message: Message, result: SendResult) -> None:
    """Called after ``message`` was accepted by a transport.

    :param message: the message that was sent.
    :param result: which transport delivered it, the provider's id and every attempt made.

    Observers run in the sending thread after delivery; keep them quick. An exception raised
    here is logged on logger ``mailcore`` and does not affect the send.
    """


@hookspec
def mailcore_attempt_failed(message: Message, attempt: Attempt) -> None:
    """Called once for every failed attempt, including those a later retry or failover fixed.

    :param message: the message being sent.
    :param attempt: the transport tried, the core error it raised and how long it took.

    Use it to count provider errors or to alert on a backup taking over. Exceptions are logged
    and ignored.
    """


@hookspec
def mailcore_message_failed(message: Message, error: DeliveryFailed) -> None:
    """Called when the policy gave up on ``message``.

    :param message: the message that was not delivered.
    :param error: the :class:`mailcore.errors.DeliveryFailed` about to be raised; its
        ``attempts`` list every attempt and ``outcome`` says ``"failed"`` or ``"unknown"``.

    Exceptions are logged and ignored.
    """


@hookspec
def mailcore_register_webhooks(registry: WebhookRegistry) -> None:
    """Register the webhook verifiers this plugin provides.

    :param registry: call ``registry.add(name, "package.module:factory")`` once per provider
        webhook. The factory is imported only when a receiver for ``name`` is built; it is called
        with the provider's settings (a mapping of strings, e.g. ``{"public_key": ...}``) and
        returns a :class:`mailcore.events.WebhookVerifier`, whose ``verify_and_parse(headers,
        body)`` checks the signature and returns :class:`mailcore.events.DeliveryEvent` values.
    """


@hookspec
def mailcore_delivery_event(event: DeliveryEvent) -> None:
    """Called once for every stored event of a verified provider webhook request, and of every
    bounce (RFC 3464 DSN) read by ``mailcore events ingest-dsn``.

    :param event: a :class:`mailcore.events.DeliveryEvent` (``delivered``, ``bounced``…) with
        the correlation id mailcore sent, the recipient and the provider's raw record.

    Called by the receiver process's background handler (:mod:`mailcore.webhooks.pipeline`)
    after the event was stored and the provider answered, so it does not slow the receiver.
    At least once: an event whose handling was cut short (the process died) is handled again
    at the next start, so make it idempotent (``event.provider_event_id``). Exceptions are
    logged and ignored.
    """
