"""Django views for provider webhooks: the same verifiers and dispatch as the WSGI receiver.

Each view translates the Django request into ``(headers, body)`` and calls
:func:`mailcore.webhooks.receive.handle_request` — the function the WSGI app calls — with the
dispatch entry point :func:`mailcore.webhooks.app.dispatch_events`, which stores the events and
has the background handler call the ``mailcore_delivery_event`` hook and, through the adapter's
bridge, the ``delivery_event`` signal. Views are CSRF-exempt (providers sign their requests instead), accept only POST,
refuse a body over ``MAILCORE_WEBHOOK_MAX_BODY`` bytes (default 5 MiB) with 413 before reading
it, and answer forged, altered, stale or replayed requests with the verifier's 4xx.

Events are stored beside the outbox :func:`mailcore.adapters.django.events.events_outbox_url`
names: Django's database when the outbox is there (``MAILCORE["QUEUE"] = "db"``), else
``MAILCORE_OUTBOX``. The views never run in the request's transaction (``ATOMIC_REQUESTS``):
the events commit in their own before the provider is answered 2xx.

Settings: ``MAILCORE_WEBHOOKS = {"sendgrid": {"public_key": "..."}, "mailgun": {...}}``; without
it, the ``MAILCORE_WEBHOOK_<PROVIDER>_*`` environment variables, exactly as for the WSGI app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]
from django.db import transaction  # type: ignore[import-untyped,unused-ignore]
from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped,unused-ignore]
from django.http.request import RawPostDataException  # type: ignore[import-untyped,unused-ignore]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped,unused-ignore]

from mailcore.errors import ConfigurationError
from mailcore.events import DeliveryEvent, WebhookVerifier
from mailcore.webhooks.app import DEFAULT_MAX_BODY
from mailcore.webhooks.receive import Answer, check_length, handle_request, log_refusal
from mailcore.webhooks.registry import build_verifiers

__all__ = ["configured_verifiers", "dispatch", "max_body", "webhook_view"]

View = Callable[[HttpRequest], HttpResponse]


def dispatch(events: Sequence[DeliveryEvent]) -> None:
    """The WSGI receiver's entry point for a request's events (looked up per call, stored in one
    transaction beside the outbox of :func:`~mailcore.adapters.django.events.events_outbox_url`),
    with the signal bridge on."""
    from mailcore.adapters.django.events import events_outbox_url
    from mailcore.adapters.django.signals import connect_bridge
    from mailcore.webhooks import app

    connect_bridge()  # idempotent: survives a plugin-manager reset
    app.dispatch_events(events, outbox=events_outbox_url())


def configured_verifiers() -> dict[str, WebhookVerifier]:
    """A verifier per provider in ``settings.MAILCORE_WEBHOOKS`` (else the environment)."""
    config: Mapping[str, Mapping[str, str]] | None = getattr(settings, "MAILCORE_WEBHOOKS", None)
    try:
        return build_verifiers(config)
    except ConfigurationError as error:
        raise ImproperlyConfigured(f"mailcore webhooks: {error}") from None


def max_body() -> int:
    """``settings.MAILCORE_WEBHOOK_MAX_BODY`` (bytes), default 5 MiB."""
    value = getattr(settings, "MAILCORE_WEBHOOK_MAX_BODY", DEFAULT_MAX_BODY)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ImproperlyConfigured(f"MAILCORE_WEBHOOK_MAX_BODY={value!r} must be a positive number of bytes")
    return value


def _respond(answer: Answer, **headers: str) -> HttpResponse:
    response = HttpResponse(answer.text + "\n", status=answer.status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


def webhook_view(provider: str, verifier: WebhookVerifier, limit: int | None = None) -> View:
    """The view for one provider's webhook path."""
    body_limit = max_body() if limit is None else limit

    @csrf_exempt  # type: ignore[misc,unused-ignore]
    @transaction.non_atomic_requests  # type: ignore[misc,unused-ignore]  # the events commit before the 2xx
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return _respond(Answer(405, "use POST"), Allow="POST")
        client = str(request.META.get("REMOTE_ADDR", "?"))
        length = request.META.get("CONTENT_LENGTH")
        refused = check_length(length, False, body_limit)  # Django reads no body without a length
        if refused is not None:
            log_refusal(provider, "too_large" if refused.status == 413 else "no_length", client, length or "?")
            return _respond(refused)
        body = _body(request, body_limit)
        headers: dict[str, Any] = dict(request.headers)
        return _respond(handle_request(provider, verifier, headers, body, dispatch=dispatch, client=client))

    view.__name__ = f"mailcore_{provider}_webhook"
    return view


def _body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, bypassing DATA_UPLOAD_MAX_MEMORY_SIZE (our own limit was checked)."""
    try:
        data: bytes = request.read(limit + 1)
    except RawPostDataException:  # a middleware already read request.body
        data = request.body
    return data
