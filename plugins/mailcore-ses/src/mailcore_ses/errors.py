"""Classify what SES (through botocore) answered into mailcore's error tree.

This module is the only place that knows SES error codes. :func:`classify_answer` is the
decision table over ``(HTTP status, error code, message)``; :func:`classify_exception` turns a
botocore exception into an :class:`SesAnswer` or a network-level class first. Both are pure:
no I/O, and every text passes through :func:`~mailcore.redact.mask_secrets`.

Choices where the reference table leaves room (see docs/ses.md):

* Throttling ("Maximum sending rate exceeded", ``TooManyRequestsException``) →
  :class:`RateLimited` with ``retry_after`` = :data:`THROTTLE_RETRY_AFTER` (1 s): SES sends no
  Retry-After and its rate quota is per second.
* Daily quota ("Daily message quota exceeded", ``LimitExceededException``) →
  :class:`RateLimited` with ``retry_after`` = :data:`QUOTA_RETRY_AFTER` (1 h). The message is
  not at fault and the transport recovers as the rolling 24-hour window frees, so the error is
  transient (an outbox reschedules instead of parking the message), while the long
  ``retry_after`` makes a retry policy fail over now rather than wait.
* ``MessageRejected`` because an address is not verified (the sandbox case) →
  :class:`TransportRejected`: the configuration is wrong, another transport may deliver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore import exceptions as boto_errors

from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    InvalidMessage,
    MailcoreError,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.http import RequestFailed, classify_connection_failure
from mailcore.redact import Secret, mask_secrets
from mailcore.result import Delivery

__all__ = [
    "QUOTA_RETRY_AFTER",
    "THROTTLE_RETRY_AFTER",
    "SesAnswer",
    "classify_answer",
    "classify_exception",
    "delivery_from_response",
]

#: Seconds to wait after a sending-rate throttle (SES gives no Retry-After).
THROTTLE_RETRY_AFTER = 1.0
#: Seconds to wait after the daily quota is exhausted: long, so policies fail over now.
QUOTA_RETRY_AFTER = 3600.0

_TRANSPORT_CODES = frozenset(
    {
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "AccountSuspendedException",
        "SendingPausedException",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "NotAuthorized",
    }
)
_THROTTLE_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
_QUOTA_CODES = frozenset({"LimitExceededException"})
_SERVER_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_QUOTA_TEXT = ("daily message quota", "daily sending quota", "quota exceeded")
#: MessageRejected texts that mean "an identity is not verified" (sandbox recipient or sender).
_UNVERIFIED_TEXT = ("not verified", "failed the check", "authority to send from", "not authorized to send")


@dataclass(frozen=True, slots=True)
class SesAnswer:
    """An SES error answer: HTTP status (``None`` when unknown), error code and message."""

    status: int | None
    code: str
    message: str
    request_id: str | None = None

    def describe(self) -> str:
        status = f"HTTP {self.status} " if self.status is not None else ""
        return f"SES {status}{self.code}: {self.message}".rstrip(": ")

    def as_response(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message, "request_id": self.request_id}


def classify_answer(answer: SesAnswer) -> MailcoreError:
    """The decision table: which mailcore error an SES error answer is."""
    text, response, code = answer.describe(), answer.as_response(), answer.code
    lowered = answer.message.lower()
    if code == "MessageRejected":
        if any(marker in lowered for marker in _UNVERIFIED_TEXT):
            return TransportRejected(f"{text} (verify the identity, or leave the SES sandbox)", response=response)
        return MessageRejected(text, response=response)
    if code in _TRANSPORT_CODES or code in _CREDENTIAL_CODES:
        return TransportRejected(text, response=response)
    if code in _QUOTA_CODES or ((code in _THROTTLE_CODES or answer.status == 429) and _is_quota(lowered)):
        return RateLimited(text, retry_after=QUOTA_RETRY_AFTER, response=response)
    if code in _THROTTLE_CODES:
        return RateLimited(text, retry_after=THROTTLE_RETRY_AFTER, response=response)
    if code == "BadRequestException":
        return MessageRejected(text, response=response)
    if code in _SERVER_CODES:
        return TransientError(text, response=response)
    return _classify_status(answer.status, text, response)


def _is_quota(lowered_message: str) -> bool:
    return any(marker in lowered_message for marker in _QUOTA_TEXT)


def _classify_status(status: int | None, text: str, response: dict[str, Any]) -> MailcoreError:
    """Fallback for codes this table does not name: decide by the HTTP status."""
    if status is None or status >= 500:
        return TransientError(text, response=response)
    if status == 429:
        return RateLimited(text, retry_after=THROTTLE_RETRY_AFTER, response=response)
    if status in (401, 403, 404):
        return TransportRejected(text, response=response)
    if 400 <= status < 500:
        return MessageRejected(text, response=response)
    return TransientError(text, response=response)


def classify_exception(error: BaseException, secrets: Iterable[str | Secret | None] = ()) -> MailcoreError:
    """Turn what ``client.send_email`` raised into a mailcore error, with secrets masked."""
    secret_list = list(secrets)

    def masked(text: str) -> str:
        return mask_secrets(text, secret_list)

    if isinstance(error, boto_errors.ClientError):
        return classify_answer(_answer_from(error.response, masked))
    if isinstance(error, RequestFailed):  # mailcore's HTTP client got no readable answer
        return classify_connection_failure(error.error, body_sent=error.body_sent, provider="SES", secrets=secret_list)
    if isinstance(error, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return ConfigurationError(
            f"SES: {masked(str(error))}; give ses://KEY:SECRET@?region=… or configure the AWS credential chain"
        )
    if isinstance(error, boto_errors.NoRegionError):
        return ConfigurationError("SES: no region; give ses://?region=… or set AWS_REGION")
    if isinstance(error, boto_errors.ParamValidationError):
        return InvalidMessage("request", f"botocore refused the SendEmail request: {masked(str(error))}")
    if isinstance(error, boto_errors.ReadTimeoutError | boto_errors.ConnectionClosedError):
        return SendTimeout(
            f"SES: no answer after the request was sent ({masked(str(error))}); it may have been accepted",
            maybe_sent=True,
        )
    if isinstance(error, boto_errors.SSLError):  # an untrusted or mismatched certificate: never retried
        return TransportRejected(
            f"SES: TLS verification failed ({masked(str(error))}); check endpoint_url and cafile. "
            "mailcore never retries without verification"
        )
    if isinstance(error, boto_errors.ConnectionError):  # connect timeout, refused, DNS, proxy
        return ConnectionFailed(f"SES: {masked(str(error))}")
    if isinstance(error, boto_errors.CredentialRetrievalError | boto_errors.TokenRetrievalError):
        return TransportRejected(f"SES: {masked(str(error))}")
    return TransientError(f"SES: {type(error).__name__}: {masked(str(error))}")


def _answer_from(response: Mapping[str, Any], masked: Any) -> SesAnswer:
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    return SesAnswer(
        status=int(status) if status is not None else None,
        code=str(error.get("Code") or "Unknown"),
        message=masked(str(error.get("Message") or "")),
        request_id=meta.get("RequestId"),
    )


def delivery_from_response(response: Mapping[str, Any]) -> Delivery:
    """A successful answer: SES's ``MessageId``, or ``None`` when the body was unreadable.

    A 2xx is a success even when its body cannot be read; the message is never sent again.
    """
    message_id = response.get("MessageId")
    meta = response.get("ResponseMetadata") or {}
    return Delivery(
        provider_message_id=str(message_id) if message_id else None,
        response={"status": meta.get("HTTPStatusCode"), "request_id": meta.get("RequestId")},
    )
