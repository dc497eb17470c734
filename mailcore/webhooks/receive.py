"""One webhook request, framework-neutral: verify, dispatch, answer. Shared by every receiver.

The WSGI app (:mod:`mailcore.webhooks.app`) and the Django views
(:mod:`mailcore.adapters.django.views`) only translate their request into ``(headers, body)``
and the :class:`Answer` back; the rules — which status for which refusal, what is logged (never
the body, headers or signature), when a one-time token is released — live here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mailcore.errors import WebhookRejected
from mailcore.events import DeliveryEvent, WebhookVerifier

__all__ = ["REASONS", "Answer", "BatchDispatch", "check_length", "each_event", "handle_request", "log_refusal"]

log = logging.getLogger("mailcore.webhooks")

Dispatch = Callable[[DeliveryEvent], None]
#: Takes every event of one verified request at once (stored together: one transaction).
BatchDispatch = Callable[[Sequence[DeliveryEvent]], None]
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Answer:
    """What to answer: HTTP status and a short plain-text body (never an echo of the request)."""

    status: int
    text: str


def check_length(content_length: str | None, chunked: bool, max_body: int) -> Answer | None:
    """413 when the declared length is over ``max_body``, 411 when there is none (not chunked)."""
    raw = (content_length or "").strip()
    if raw.isdigit():
        return Answer(413, "body too large") if int(raw) > max_body else None
    return None if chunked else Answer(411, "Content-Length required")


def log_refusal(provider: str, reason: str, client: str, size: int | str) -> None:
    """The one log line for a refused request: provider, reason, client and size — no content."""
    log.warning("%s webhook refused (%s) from %s, %s bytes", provider, reason, client, size)


def handle_request(
    provider: str,
    verifier: WebhookVerifier,
    headers: Mapping[str, str],
    body: bytes,
    *,
    dispatch: BatchDispatch,
    client: str = "?",
) -> Answer:
    """Verify one request with ``verifier`` and hand its events to ``dispatch`` in one call.

    200 when every event was dispatched; the :class:`WebhookRejected` status (4xx) when
    verification refused it; 500 when the verifier or ``dispatch`` raised, after which the
    verifier's optional ``release(headers, body)`` lets the provider's redelivery pass.
    """
    try:
        events = verifier.verify_and_parse(headers, body)
    except WebhookRejected as error:
        log_refusal(provider, error.reason, client, len(body))
        return Answer(error.status, f"rejected: {error.reason}")
    except Exception as error:
        log.error("%s webhook verifier raised %s; answered 500", provider, type(error).__name__)
        return Answer(500, "verifier error")
    try:
        dispatch(events)
    except Exception as error:
        log.error(
            "%s webhook: dispatch raised %s; answered 500, the provider will redeliver", provider, type(error).__name__
        )
        _release(verifier, provider, headers, body)
        return Answer(500, "dispatch error")
    log.debug("%s webhook: %d event(s) accepted", provider, len(events))
    return Answer(200, "ok")


def each_event(dispatch: Dispatch) -> BatchDispatch:
    """A batch dispatch that calls a one-event ``dispatch`` for each event, in order."""

    def dispatch_each(events: Sequence[DeliveryEvent]) -> None:
        for event in events:
            dispatch(event)

    return dispatch_each


def _release(verifier: WebhookVerifier, provider: str, headers: Mapping[str, str], body: bytes) -> None:
    """Let a verifier forget the one-time token of a request that was not processed (optional method)."""
    release = getattr(verifier, "release", None)
    if release is None:
        return
    try:
        release(headers, body)
    except Exception as error:
        log.error(
            "%s webhook: release raised %s; a redelivery may be refused as a replay", provider, type(error).__name__
        )
