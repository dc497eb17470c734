"""Provider-neutral parts of reading an HTTP API's answer, shared by the HTTP transports.

Each plugin still owns what its provider's status codes and error texts mean (see its
``errors.py``); what is generic HTTP lives here:

* :func:`retry_after_seconds` reads the standard ``Retry-After`` header and the common
  ``X-RateLimit-Reset`` header, so a 429 becomes ``RateLimited(retry_after=…)``;
* :func:`api_base_url` picks the API root from a ``region`` or an ``endpoint_url`` override;
* :func:`classify_connection_failure` maps a request that got no answer at all (refused,
  timed out, reset, untrusted certificate) to the core error, honouring whether the request
  body had already been written (then the provider may have the message).

Example, in a plugin's ``classify_response``::

    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers, now=now))

Pure functions over the standard library: importing this module is cheap.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from mailcore.config import mask_endpoint
from mailcore.errors import ConfigurationError, ConnectionFailed, SendError, SendTimeout, TransportRejected
from mailcore.redact import Secret, mask_secrets

__all__ = ["api_base_url", "classify_connection_failure", "retry_after_seconds"]

#: An ``X-RateLimit-Reset`` above this is in milliseconds since the epoch, not seconds.
_EPOCH_MILLISECONDS = 1e11


def api_base_url(scheme: str, *, region: str, regions: Mapping[str, str], endpoint_url: str | None) -> str:
    """The API root (no trailing ``/``) for ``region``, or ``endpoint_url`` when given.

    ``regions`` maps each region name to its root URL; ``endpoint_url`` points the transport at
    a test server or a proxy instead. ``scheme`` (``"sendgrid"``) names the transport in the
    :class:`~mailcore.errors.ConfigurationError` raised for an unknown region or a URL that is
    not ``http://`` or ``https://``.
    """
    if region not in regions:
        raise ConfigurationError(f"{scheme}:// region={region!r}; choose one of {', '.join(regions)}")
    base_url = (endpoint_url or regions[region]).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ConfigurationError(
            f"{scheme}:// endpoint_url={mask_endpoint(base_url)!r} must start with http:// or https://"
        )
    return base_url


def retry_after_seconds(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when the answer does not say.

    ``headers`` have lower-case names. ``Retry-After`` wins (delay in seconds, or an HTTP date);
    then ``X-RateLimit-Reset`` (an epoch time in seconds or milliseconds; zero or unreadable
    means unknown). ``now`` is the current epoch time in seconds. Never negative.
    """
    raw = (headers.get("retry-after") or "").strip()
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        if value > _EPOCH_MILLISECONDS:
            value /= 1000.0
        if value:
            return max(0.0, value - now)
    return None


def classify_connection_failure(
    error: BaseException,
    *,
    body_sent: bool,
    provider: str,
    secrets: Iterable[str | Secret | None] = (),
) -> SendError:
    """Map a request to ``provider`` (a display name, e.g. ``"SendGrid"``) that got no answer.

    An untrusted certificate is configuration (``TransportRejected``). Before the body was sent
    the provider cannot have the message (``ConnectionFailed``); once ``body_sent`` is true a
    timeout or reset is ``SendTimeout(maybe_sent=True)``. Secrets are masked in every text.
    """
    detail = mask_secrets(f"{type(error).__name__}: {error}", tuple(secrets))
    if isinstance(error, ssl.SSLCertVerificationError):
        return TransportRejected(f"TLS certificate verification failed: {detail} (set cafile=… to trust a CA)")
    if body_sent:
        if isinstance(error, TimeoutError):
            return SendTimeout(f"no answer from {provider} before the timeout: {detail}", maybe_sent=True)
        return SendTimeout(f"connection lost after the request was sent: {detail}", maybe_sent=True)
    if isinstance(error, TimeoutError):
        return ConnectionFailed(f"timed out before the request was sent: {detail}")
    return ConnectionFailed(f"cannot reach {provider}: {detail}")
