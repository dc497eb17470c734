"""The one exception tree of mailcore.

Every error mailcore raises is a :class:`MailcoreError`. Plugins translate every vendor answer
into one of these classes at their boundary, so policies reason only about the classes below and
never about status codes::

    MailcoreError
    ├── ConfigurationError        never retried, never swallowed by fail_silently
    │   └── UnknownTransport
    ├── InvalidMessage            rejected before anything is sent
    ├── WebhookRejected           a provider webhook failed verification (.provider, .reason, .status)
    ├── EnqueueFailed             the queue did not confirm it stored the message (.maybe_stored)
    └── SendError                 .transport, .response
        ├── TransientError        retry (same transport after backoff), then fail over
        │   ├── ConnectionFailed
        │   ├── SendTimeout       .maybe_sent
        │   └── RateLimited       .retry_after
        ├── PermanentError
        │   ├── TransportRejected this transport is unusable (auth, suspended): fail over, no retry
        │   └── MessageRejected   the message is the problem: stop, no retry, no failover
        │       └── RecipientSuppressed  every recipient is on the suppression list
        └── DeliveryFailed        the policy gave up; .attempts holds every attempt

Exception texts never contain secrets or message bodies: transports pass provider answers
through :func:`mailcore.redact.mask_secrets` before building an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailcore.result import Attempt

__all__ = [
    "ConfigurationError",
    "ConnectionFailed",
    "DeliveryFailed",
    "DuplicateSend",
    "EnqueueFailed",
    "InvalidMessage",
    "MailcoreError",
    "MessageExpired",
    "MessageRejected",
    "PermanentError",
    "RateLimited",
    "RecipientSuppressed",
    "SendError",
    "SendTimeout",
    "TransientError",
    "TransportRejected",
    "UnknownTransport",
    "WebhookRejected",
]


class MailcoreError(Exception):
    """Base of every error mailcore raises."""


class ConfigurationError(MailcoreError):
    """The configuration is wrong: a bad URL, a missing plugin or credential.

    Never retried and never swallowed by ``fail_silently``: it needs a human.
    """


class UnknownTransport(ConfigurationError):
    """No installed plugin provides the requested URL scheme."""

    def __init__(self, scheme: str, installed: Sequence[str], hint: str | None = None) -> None:
        self.scheme = scheme
        self.installed = tuple(sorted(installed))
        text = f"no transport for scheme {scheme!r}; installed schemes: {', '.join(self.installed) or '(none)'}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class InvalidMessage(MailcoreError, ValueError):
    """The message cannot be sent as built; nothing was sent.

    ``field`` names the offending field (``"to[1]"``, ``"headers['X-Tag']"``, ``"subject"``).
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class EnqueueFailed(MailcoreError):
    """The queue did not confirm that it stored the message: treat it as NOT queued.

    Raised by ``enqueue()`` when the broker refused the message (a RabbitMQ ``basic.nack``, a
    full queue with ``reject-publish``), did not confirm it in time, or could not be reached.
    The caller still owns the message: enqueue it again, send it directly, or report the error.
    ``maybe_stored`` is true when the broker may have stored it anyway (no answer in time, a
    connection lost after the publish): enqueuing again may then deliver it twice. ``queue``
    names the queue (never the broker's credentials).
    """

    def __init__(self, message: str, *, queue: str | None = None, maybe_stored: bool = False) -> None:
        super().__init__(message)
        self.queue = queue
        self.maybe_stored = maybe_stored


class WebhookRejected(MailcoreError):
    """A provider webhook request was refused: bad or missing signature, stale, replayed, malformed.

    ``provider`` names the webhook (``"sendgrid"``), ``reason`` is a short stable code for logs
    and metrics (``"bad_signature"``, ``"stale"``, ``"replayed"``, ``"malformed"``,
    ``"missing_header"``, ``"certificate"``, ``"unknown_topic"``) and ``status`` the HTTP status the
    receiver answers with. The text says what was wrong and never contains the request body,
    signatures or keys.
    """

    def __init__(self, provider: str, reason: str, detail: str, *, status: int = 400) -> None:
        self.provider = provider
        self.reason = reason
        self.status = status
        super().__init__(f"{provider} webhook rejected ({reason}): {detail}")


class SendError(MailcoreError):
    """A send attempt failed.

    ``transport`` is the name of the transport that failed (for example ``"smtp://relay:587"``
    with secrets masked); ``response`` is the provider's answer, already masked, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        transport: str | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.transport = transport
        self.response = response

    def __str__(self) -> str:
        text = super().__str__()
        return f"[{self.transport}] {text}" if self.transport else text


class TransientError(SendError):
    """Temporary failure: retry on the same transport after a backoff, then fail over."""


class ConnectionFailed(TransientError):
    """The transport could not reach its provider (DNS, TCP, TLS handshake).

    Nothing was handed over, so a retry or failover can never duplicate the message.
    """


class SendTimeout(TransientError):
    """The attempt ran out of time.

    ``maybe_sent`` is true when the timeout happened after the message was handed over (after
    the final ``.`` of SMTP DATA, after an HTTP body was written): the provider may have accepted
    it, and resending may deliver it twice. Policies do not resend such messages unless told to.
    """

    def __init__(
        self,
        message: str,
        *,
        maybe_sent: bool = False,
        transport: str | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, transport=transport, response=response)
        self.maybe_sent = maybe_sent


class RateLimited(TransientError):
    """The provider asked us to slow down; ``retry_after`` is in seconds when it said how long."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        transport: str | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, transport=transport, response=response)
        self.retry_after = retry_after


class PermanentError(SendError):
    """A failure that the same request will meet again: never retried on the same transport."""


class TransportRejected(PermanentError):
    """This transport is unusable (bad credentials, suspended account): fail over, no retry."""


class MessageRejected(PermanentError):
    """The message itself is the problem: stop, no retry, no failover.

    ``recipients`` maps a refused recipient to the provider's reason, when the provider refused
    only some of them (the others were delivered).
    """

    def __init__(
        self,
        message: str,
        *,
        recipients: Mapping[str, str] | None = None,
        transport: str | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, transport=transport, response=response)
        self.recipients: dict[str, str] = dict(recipients or {})


class MessageExpired(MessageRejected):
    """The message's ``expires`` passed before it was delivered: it is never sent after that.

    Raised instead of starting an attempt (the policy's time budget ends at the expiry), so no
    retry, failover or queue sends it later. ``reason`` is ``"expired"``; ``expires_at`` the
    expiry in epoch seconds.
    """

    reason = "expired"

    def __init__(self, message: str, *, expires_at: float, transport: str | None = None) -> None:
        super().__init__(message, transport=transport)
        self.expires_at = expires_at


class DuplicateSend(TransientError):
    """Another send with the same ``idempotency_key`` is still in flight; this one sent nothing.

    The cause of a :class:`DeliveryFailed` when the first send did not finish within the wait.
    Transient: trying again later returns the first send's result (or sends, if the first one
    died and its reservation ran out), so an outbox worker or Celery reschedules it.
    """


class RecipientSuppressed(MessageRejected):
    """Every recipient of the message is on the suppression list; nothing was sent.

    ``recipients`` maps each address to why it is suppressed (``"hard bounce (sendgrid event,
    2026-11-30): 550 5.1.1 …"``). When only some recipients are suppressed the message goes to
    the others and the suppressed ones are listed in ``SendResult.rejected`` instead.
    """


class DeliveryFailed(SendError):
    """The policy gave up on a message; ``attempts`` lists every attempt, in order.

    ``last_error`` is the error that ended it. ``outcome`` is ``"failed"`` or ``"unknown"``
    (an attempt may have been delivered: see :class:`SendTimeout`).
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        transport: str | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, transport=transport, response=response)
        self.attempts: tuple[Attempt, ...] = tuple(attempts)

    @property
    def last_error(self) -> BaseException | None:
        """The error of the final attempt, or ``None`` when no attempt was made."""
        return self.attempts[-1].error if self.attempts else None

    @property
    def outcome(self) -> str:
        """``"unknown"`` when any attempt may have delivered, else ``"failed"``.

        Any, not only the last: with ``on_ambiguous="retry"`` an ambiguous timeout can be
        followed by a definite refusal elsewhere, and the first provider may still have sent it.
        """
        for attempt in self.attempts:
            if isinstance(attempt.error, SendTimeout) and attempt.error.maybe_sent:
                return "unknown"
        return "failed"

    @property
    def expired(self) -> bool:
        """True when the message was not sent because its ``expires`` passed (:class:`MessageExpired`)."""
        return isinstance(self.last_error, MessageExpired)

    @property
    def reason(self) -> str:
        """``"expired"`` for an expired message, else :attr:`outcome` (``"failed"``/``"unknown"``)."""
        return "expired" if self.expired else self.outcome

    @property
    def transient(self) -> bool:
        """True when the message may still go out later: every attempt failed transiently and none
        may have delivered. An outbox parks such messages instead of failing them."""
        if not self.attempts:
            return False
        for attempt in self.attempts:
            error = attempt.error
            if not isinstance(error, TransientError):
                return False
            if isinstance(error, SendTimeout) and error.maybe_sent:
                return False
        return True


def failure_summary(error: SendError) -> str:
    """One line for a failed send, each fact once: how many attempts, then the last error.

    ``"3 attempt(s); last: [smtp://relay:587] cannot connect …"`` instead of the policy's own
    text, which names the stack, the message and the last error (whose transport is in it
    again). For a plain :class:`SendError` it is the error's text. Safe to print: error texts
    are secret-free by contract.
    """
    if isinstance(error, DeliveryFailed) and error.last_error is not None:
        count = len(error.attempts)
        return f"{count} attempt{'s' if count != 1 else ''}; last: {error.last_error}".replace("\n", " ")
    return str(error).replace("\n", " ")
