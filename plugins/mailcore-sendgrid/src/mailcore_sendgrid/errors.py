"""SendGrid answer → mailcore outcome: pure functions, the only place that knows SendGrid's codes.

:func:`classify_response` turns an HTTP answer into a :class:`~mailcore.result.Delivery` or the
core error to raise; :func:`classify_failure` does the same for a request that got no answer.
Both mask the API key in every text they build.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mailcore.errors import (
    MessageRejected,
    RateLimited,
    SendError,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.http import classify_connection_failure, retry_after_seconds
from mailcore.redact import Secret, mask_secrets
from mailcore.result import Delivery

__all__ = ["classify_failure", "classify_response", "classify_sdk_error", "retry_after_seconds"]

#: 400 error fields/texts that mean "this account cannot send as this sender" (config, fail over).
_SENDER_IDENTITY_HINTS = ("sender identity", "verified sender", "from address does not match")
_SENDER_FIELDS = {"from", "from.email"}


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now: float,
    secrets: Iterable[str | Secret | None] = (),
) -> Delivery | SendError:
    """Map one SendGrid answer. ``headers`` have lower-case names; ``body`` is ``None`` when unreadable.

    ``now`` (epoch seconds) turns ``X-RateLimit-Reset`` into a delay.
    """
    if 200 <= status < 300:
        # 202 carries its id in a header; the body is not needed, so an unreadable one is fine.
        return Delivery(provider_message_id=headers.get("x-message-id") or None)
    secrets = tuple(secrets)
    errors, text = _error_text(body, secrets)
    response = {"status": status, "errors": errors} if errors else {"status": status, "body": text}
    message = f"SendGrid answered {status}: {text}" if text else f"SendGrid answered {status}"
    if status == 400:
        if _is_sender_identity_problem(errors):
            return TransportRejected(message + " (sender identity: verify the from address)", response=response)
        return MessageRejected(message, response=response)
    if status in (401, 403):
        return TransportRejected(message + " (check the API key and its mail.send scope)", response=response)
    if status == 413:
        return MessageRejected(message + " (the message is too large)", response=response)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers, now=now), response=response)
    if status == 408:
        return SendTimeout(message, maybe_sent=False, response=response)
    if status >= 500:
        return TransientError(message, response=response)
    # 404/405 wrong endpoint, 406, 451 wrong region, 3xx redirects: this transport is misconfigured.
    return TransportRejected(message + " (check endpoint_url and region)", response=response)


def classify_failure(
    error: BaseException, *, body_sent: bool, secrets: Iterable[str | Secret | None] = ()
) -> SendError:
    """Map a request that got no HTTP answer.

    ``body_sent`` is true once the whole request was written: from then on the provider may have
    accepted the message, so a timeout or reset is ``SendTimeout(maybe_sent=True)``.
    """
    return classify_connection_failure(error, body_sent=body_sent, provider="SendGrid", secrets=secrets)


def _error_text(body: bytes | None, secrets: tuple[str | Secret | None, ...]) -> tuple[list[dict[str, Any]], str]:
    """SendGrid's ``errors[]`` (masked) and one readable line built from them."""
    if not body:
        return [], ""
    raw = mask_secrets(body.decode("utf-8", errors="replace"), secrets)
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # a deeply nested body must not crash the send
        return [], raw[:500]
    items = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        return [], raw[:500]
    errors = [item for item in items if isinstance(item, dict)]
    parts = []
    for item in errors:
        text = str(item.get("message") or "error")
        field = item.get("field")
        parts.append(f"{text} (field {field})" if field else text)
    return errors, "; ".join(parts)


def _is_sender_identity_problem(errors: list[dict[str, Any]]) -> bool:
    for item in errors:
        text = str(item.get("message") or "").lower()
        field = str(item.get("field") or "").lower()
        if any(hint in text for hint in _SENDER_IDENTITY_HINTS):
            return True
        if field in _SENDER_FIELDS and ("verif" in text or "identity" in text):
            return True
    return False


def classify_sdk_error(error: Any, *, now: float, secrets: Iterable[str | Secret | None] = ()) -> SendError:
    """Map an exception of the official client (``python_http_client.exceptions.HTTPError``).

    For code that still calls ``sendgrid.SendGridAPIClient`` directly: its errors carry
    ``status_code``, ``headers`` and ``body``, and get the same classification as ours.
    """
    status = int(getattr(error, "status_code", 0) or 0)
    raw_headers = getattr(error, "headers", None) or {}
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
    body = getattr(error, "body", None)
    if isinstance(body, str):
        body = body.encode("utf-8")
    outcome = classify_response(status, headers, body if isinstance(body, bytes) else None, now=now, secrets=secrets)
    if isinstance(outcome, SendError):
        return outcome
    return TransientError(f"the SendGrid client raised {type(error).__name__} for status {status}")
