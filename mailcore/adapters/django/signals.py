"""The ``delivery_event`` Django signal: every delivery event, for Django receivers.

Sent once per :class:`~mailcore.events.DeliveryEvent` reaching the ``mailcore_delivery_event``
hook — from the Django webhook views, the WSGI receiver or ``mailcore events ingest-dsn`` running
in the same process. The adapter's app config registers :class:`SignalBridge` as a mailcore
plugin once; the views only dispatch through the hook, so no event is sent twice::

    from django.dispatch import receiver
    from mailcore.adapters.django.signals import delivery_event

    @receiver(delivery_event)
    def on_delivery_event(sender, event, **kwargs):
        if event.is_hard_bounce:
            ...

``sender`` is :class:`mailcore.events.DeliveryEvent`. Receivers run in the request thread
before the provider gets its answer: keep them quick. A receiver that raises is logged (its
exception type, not the event) and the other receivers still run.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal  # type: ignore[import-untyped,unused-ignore]

from mailcore.events import DeliveryEvent
from mailcore.plugins import get_plugin_manager, hookimpl

__all__ = ["BRIDGE_NAME", "SignalBridge", "connect_bridge", "delivery_event"]

log = logging.getLogger("mailcore.adapters.django")

#: Sent with ``sender=DeliveryEvent`` and ``event=<the DeliveryEvent>``.
delivery_event = Signal()
#: The plugin name the bridge is registered under (once per plugin manager).
BRIDGE_NAME = "mailcore.adapters.django.signals"


class SignalBridge:
    """A mailcore plugin turning the ``mailcore_delivery_event`` hook into the Django signal."""

    @hookimpl
    def mailcore_delivery_event(self, event: DeliveryEvent) -> None:
        for receiver, result in delivery_event.send_robust(sender=DeliveryEvent, event=event):
            if isinstance(result, Exception):
                name = getattr(receiver, "__qualname__", type(receiver).__name__)
                log.error("delivery_event receiver %s raised %s", name, type(result).__name__)


def connect_bridge() -> None:
    """Register the bridge with mailcore's plugin manager unless it already is (idempotent)."""
    manager = get_plugin_manager()
    if manager.get_plugin(BRIDGE_NAME) is None:
        manager.register(SignalBridge(), name=BRIDGE_NAME)
