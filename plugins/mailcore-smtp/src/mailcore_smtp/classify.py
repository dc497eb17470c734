"""SMTP answers → mailcore errors: the only module that knows SMTP reply codes.

Every function here is pure: it takes the protocol *stage* at which something happened and
the server's reply (or what went wrong on the wire) and returns the core error to raise, or a
verdict for one recipient. The transport decides nothing about codes itself. The mapping
follows RFC 5321/3463 and the decision table in ``provider-errors.md``:

=============================================  ==========================================
answer                                         error
=============================================  ==========================================
421, 45x (any stage)                           TransientError (ConnectionFailed at greeting)
454/452/450 4.2.1 throttling, Gmail 421 4.7.0  RateLimited
530, 534, 535, 538; 5xx to EHLO/STARTTLS/AUTH  TransportRejected
5xx greeting (554 "no SMTP service")           TransportRejected
550 "relay denied", 550 5.4.5 daily limit      TransportRejected (fail over, park)
550/553/5xx on RCPT                            refused recipient (see :func:`recipient_verdict`)
452 4.5.3 / 552 "too many recipients" on RCPT  deferred to a further transaction (not an error)
552 (MAIL, DATA, end of data)                  MessageRejected (size)
554 / 550 after the data                       MessageRejected (content / policy)
disconnect or timeout before the final "."     TransientError / SendTimeout(maybe_sent=False)
disconnect or timeout after the final "."      SendTimeout(maybe_sent=True)
=============================================  ==========================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from mailcore.errors import (
    ConnectionFailed,
    MessageRejected,
    RateLimited,
    SendError,
    SendTimeout,
    TransientError,
    TransportRejected,
)

__all__ = [
    "Reply",
    "Stage",
    "Verdict",
    "certificate_failed",
    "disconnected",
    "recipient_verdict",
    "reply_error",
    "starttls_missing",
    "timed_out",
]

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
_RETRY_AFTER = re.compile(r"(?:after|in)\s+(\d+)\s*(s|sec|secs|seconds|m|min|mins|minutes)\b", re.IGNORECASE)
_THROTTLE_WORDS = (
    "throttl",
    "rate limit",
    "ratelimit",
    "sending rate",
    "too many messages",
    "daily limit",
    "daily sending",
    "limit exceeded",
    "quota exceeded",
)


class Stage(Enum):
    """Where in the session an answer or failure happened; it decides what a failure means."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "EHLO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"
    BODY = "message data"
    END = "end of data"

    @property
    def handed_over(self) -> bool:
        """True once the final ``.`` was sent: the server may have accepted the message."""
        return self is Stage.END


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: the three-digit code and its text (lines joined by newlines).

    The transport masks secrets out of ``text`` before building a Reply.
    """

    code: int
    text: str

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code (``"5.7.8"``) when the reply starts with one."""
        match = _ENHANCED.match(self.text)
        return ".".join(match.groups()) if match else None

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class Verdict(Enum):
    """What one RCPT answer means for that recipient."""

    ACCEPTED = "accepted"
    DEFERRED = "deferred"  # 452 4.5.3 too many recipients: send in a further transaction
    TEMPORARY = "temporary"  # 4xx: the whole message is retried later, nothing is sent now
    REFUSED = "refused"  # 5xx about this recipient: the others still get the message
    TRANSPORT = "transport"  # 5xx about us (relay denied, auth, quota): fail over


# -- replies -------------------------------------------------------------------------------------


def is_throttling(reply: Reply) -> bool:
    """True when a reply asks us to slow down (provider rate or quota texts)."""
    text = reply.text.lower()
    enhanced = reply.enhanced
    if reply.code == 421 and enhanced == "4.7.0" and "tls" not in text:
        return True  # Gmail: 421 4.7.0 Try again later (rate / DoS protection)
    if reply.code == 450 and enhanced == "4.2.1":
        return True  # receiving too fast / peak SMTP relay limit
    return reply.code in (421, 450, 451, 452, 454) and any(word in text for word in _THROTTLE_WORDS)


def retry_after(reply: Reply) -> float | None:
    """Seconds the server asked us to wait ("try again after 120 seconds"), if it said."""
    match = _RETRY_AFTER.search(reply.text)
    if not match:
        return None
    value = float(match.group(1))
    return value * 60 if match.group(2).lower().startswith("m") else value


def _is_auth_code(reply: Reply) -> bool:
    return reply.code in (530, 534, 535, 538)


def _is_transport_policy(reply: Reply) -> bool:
    """A 5xx that is about this transport (relay, account quota), not about the message."""
    text = reply.text.lower()
    return (
        _is_auth_code(reply)
        or "relay" in text
        or reply.enhanced == "5.4.5"  # Google: daily SMTP relay limit exceeded
        or ("daily" in text and "limit" in text)
    )


def _describe(stage: Stage, reply: Reply) -> str:
    return f"{stage.value}: {reply}"


def reply_error(stage: Stage, reply: Reply) -> SendError:
    """The core error for a negative (or unexpected) reply at ``stage``."""
    text = _describe(stage, reply)
    response = str(reply)
    if reply.code < 400:
        return TransientError(f"{text} (unexpected reply)", response=response)
    if reply.code < 500:
        if is_throttling(reply):
            return RateLimited(f"{text} (rate limited)", retry_after=retry_after(reply), response=response)
        if stage in (Stage.CONNECT, Stage.GREETING):
            return ConnectionFailed(f"{text} (server not accepting sessions now)", response=response)
        return TransientError(text, response=response)
    return _permanent(stage, reply, text, response)


def _permanent(stage: Stage, reply: Reply, text: str, response: str) -> SendError:
    if _is_auth_code(reply):
        return TransportRejected(f"{text} ({_auth_hint(reply)})", response=response)
    if stage is Stage.GREETING:
        return TransportRejected(f"{text} (the server refuses SMTP sessions from us)", response=response)
    if stage in (Stage.CONNECT, Stage.EHLO, Stage.STARTTLS, Stage.AUTH):
        return TransportRejected(text, response=response)
    if reply.code == 552 or reply.enhanced == "5.3.4":
        return MessageRejected(f"{text} (message too big for this server)", response=response)
    if _is_transport_policy(reply):
        return TransportRejected(f"{text} (this transport may not send now)", response=response)
    if stage is Stage.MAIL and (reply.enhanced or "").startswith("5.7."):
        return TransportRejected(f"{text} (sender not allowed for this account)", response=response)
    if reply.code == 554 and stage in (Stage.DATA, Stage.END):
        return MessageRejected(f"{text} (content refused)", response=response)
    return MessageRejected(text, response=response)


def _auth_hint(reply: Reply) -> str:
    text = reply.text.lower()
    if reply.code == 534 or "application-specific" in text:
        return "an app password is required: see docs/gmail.md"
    if reply.code == 530:
        return "authentication (or STARTTLS) is required by the server"
    return "credentials refused; check user, password or token"


def recipient_verdict(reply: Reply) -> Verdict:
    """What a RCPT TO answer means for that one recipient."""
    if reply.ok:
        return Verdict.ACCEPTED
    if _too_many_recipients(reply):
        return Verdict.DEFERRED
    if reply.code < 500:
        return Verdict.TEMPORARY
    if _is_transport_policy(reply):
        return Verdict.TRANSPORT
    return Verdict.REFUSED


def _too_many_recipients(reply: Reply) -> bool:
    """452 4.5.3, or the historical 552 that RFC 5321 §4.5.3.1.10 says to treat as 452."""
    if reply.code not in (452, 552):
        return False
    return reply.enhanced in ("4.5.3", "5.5.3") or "too many recipients" in reply.text.lower()


def all_refused(refused: dict[str, str]) -> MessageRejected:
    """Every recipient was refused with a permanent answer."""
    listing = "; ".join(f"{rcpt}: {why}" for rcpt, why in refused.items())
    return MessageRejected(f"{Stage.RCPT.value}: every recipient refused ({listing})", recipients=refused)


# -- the wire ------------------------------------------------------------------------------------


def disconnected(stage: Stage, detail: str) -> SendError:
    """The server closed the connection (or it broke) at ``stage``."""
    if stage.handed_over:
        return SendTimeout(
            f"connection lost after the end of data, before the server answered ({detail}); "
            "the message may have been delivered",
            maybe_sent=True,
        )
    if stage in (Stage.CONNECT, Stage.GREETING, Stage.EHLO, Stage.STARTTLS):
        return ConnectionFailed(f"{stage.value}: connection lost ({detail})")
    return TransientError(f"{stage.value}: connection lost before the message was accepted ({detail})")


def timed_out(stage: Stage, detail: str) -> SendError:
    """No (complete) answer in time at ``stage``; ``detail`` says which limit was hit."""
    if stage.handed_over:
        return SendTimeout(
            f"no answer after the end of data ({detail}); the message may have been delivered",
            maybe_sent=True,
        )
    return SendTimeout(f"{stage.value}: {detail}", maybe_sent=False)


def starttls_missing(host: str) -> TransportRejected:
    """STARTTLS is required but the server did not offer it: refuse before AUTH and MAIL."""
    return TransportRejected(
        f"{host} did not offer STARTTLS although TLS is required; nothing was sent and no "
        "credentials were tried. A network device may be stripping STARTTLS (a downgrade attack "
        "is possible). Use smtps:// for implicit TLS, or ?tls=none only on a trusted network."
    )


def certificate_failed(host: str, detail: str) -> TransportRejected:
    """The server's certificate did not verify; never retried without verification."""
    return TransportRejected(
        f"TLS certificate of {host} not trusted ({detail}); nothing was sent. "
        "Set ?cafile=/path/ca.pem for a private CA; verification is never turned off."
    )
