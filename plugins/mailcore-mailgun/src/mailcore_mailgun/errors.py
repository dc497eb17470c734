"""Mailgun answer → mailcore outcome: pure functions, the only place that knows Mailgun's codes.

:func:`classify_response` maps an HTTP answer to a :class:`~mailcore.result.Delivery` or the core
error to raise; :func:`classify_failure` maps a request that got no answer. Both mask the API key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from mailcore.errors import (
    MessageRejected,
    RateLimited,
    SendError,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.http import classify_connection_failure
from mailcore.http import retry_after_seconds as http_retry_after
from mailcore.redact import Secret, mask_secrets
from mailcore.result import Delivery

__all__ = ["classify_failure", "classify_response", "retry_after_seconds"]

_TRY_AGAIN = re.compile(r"try again after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
#: 400 texts that blame the sending domain or account, not the message: fail over instead of stopping.
_DOMAIN_PROBLEM = re.compile(
    r"domain .*(not found|not verified|unverified|is disabled|not allowed to send)|sandbox|free accounts", re.IGNORECASE
)
_TRANSPORT_STATUSES = {
    401: "the API key is wrong",
    402: "the account has a billing or plan problem",
    403: "the API key may not send for this domain",
    404: "the domain is unknown here (check the domain and region=eu)",
}


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now: float,
    secrets: Iterable[str | Secret | None] = (),
) -> Delivery | SendError:
    """Map one Mailgun answer. ``headers`` have lower-case names; ``body`` is ``None`` when unreadable."""
    if 200 <= status < 300:
        return Delivery(provider_message_id=_message_id(body))
    text = _error_text(body, tuple(secrets))
    response = {"status": status, "message": text}
    message = f"Mailgun answered {status}: {text}" if text else f"Mailgun answered {status}"
    if status == 400:
        if _DOMAIN_PROBLEM.search(text):
            return TransportRejected(message, response=response)
        return MessageRejected(message, response=response)
    if status in _TRANSPORT_STATUSES:
        return TransportRejected(f"{message} ({_TRANSPORT_STATUSES[status]})", response=response)
    if status == 413:
        return MessageRejected(message + " (the message is too large)", response=response)
    if status == 429:
        retry_after = retry_after_seconds(headers, text, now=now)
        return RateLimited(message, retry_after=retry_after, response=response)
    if status == 408:
        return SendTimeout(message, maybe_sent=False, response=response)
    if status >= 500:
        return TransientError(message, response=response)
    return TransportRejected(message + " (check endpoint_url and region)", response=response)


def classify_failure(
    error: BaseException, *, body_sent: bool, secrets: Iterable[str | Secret | None] = ()
) -> SendError:
    """Map a request that got no answer; after ``body_sent`` Mailgun may have the message."""
    return classify_connection_failure(error, body_sent=body_sent, provider="Mailgun", secrets=secrets)


def retry_after_seconds(headers: Mapping[str, str], text: str = "", *, now: float) -> float | None:
    """Seconds to wait: the generic rate-limit headers, then Mailgun's "try again after N seconds"."""
    delay = http_retry_after(headers, now=now)
    if delay is not None:
        return delay
    match = _TRY_AGAIN.search(text)
    return float(match.group(1)) if match else None


def _message_id(body: bytes | None) -> str | None:
    """The ``id`` of a 200 answer; ``None`` when the body is unreadable (still a success)."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # a deeply nested body must not crash the send
        return None
    value = parsed.get("id") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) and value else None


def _error_text(body: bytes | None, secrets: tuple[str | Secret | None, ...]) -> str:
    if not body:
        return ""
    raw = mask_secrets(body.decode("utf-8", errors="replace"), secrets)
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # a deeply nested body must not crash the send
        return raw.strip()[:500]
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    if isinstance(parsed, str):
        return parsed
    return raw.strip()[:500]
