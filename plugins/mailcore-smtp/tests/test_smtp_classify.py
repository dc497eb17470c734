"""Pure classification: SMTP answers → core errors (no network)."""

import pytest

from mailcore.errors import (
    ConnectionFailed,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore_smtp.classify import (
    Reply,
    Stage,
    Verdict,
    all_refused,
    disconnected,
    recipient_verdict,
    reply_error,
    retry_after,
    starttls_missing,
    timed_out,
)


@pytest.mark.parametrize(
    ("stage", "code", "text", "expected"),
    [
        (Stage.GREETING, 421, "4.3.2 Service not available", ConnectionFailed),
        (Stage.GREETING, 421, "4.7.0 Try again later, closing connection. (EHLO) gsmtp", RateLimited),
        (Stage.GREETING, 554, "5.7.1 no SMTP service here", TransportRejected),
        (Stage.MAIL, 421, "4.7.0 TLS required for RCPT domain", TransientError),
        (Stage.RCPT, 451, "4.3.0 Temporary System Problem", TransientError),
        (Stage.RCPT, 450, "4.2.1 Peak SMTP relay limit exceeded", RateLimited),
        (Stage.MAIL, 454, "Throttling failure: Maximum sending rate exceeded.", RateLimited),
        (Stage.MAIL, 452, "4.5.3 Daily limit exceeded for this account", RateLimited),
        (Stage.AUTH, 454, "4.7.0 Temporary authentication failure", TransientError),
        (Stage.AUTH, 535, "5.7.8 Username and Password not accepted. BadCredentials gsmtp", TransportRejected),
        (Stage.AUTH, 534, "5.7.9 Application-specific password required", TransportRejected),
        (Stage.MAIL, 530, "5.7.0 Must issue a STARTTLS command first", TransportRejected),
        (Stage.END, 552, "5.3.4 Message size exceeds fixed limit", MessageRejected),
        (Stage.END, 554, "5.7.1 Message rejected as spam", MessageRejected),
        (Stage.END, 451, "4.3.0 Local error in processing", TransientError),
        (Stage.RCPT, 550, "5.7.1 Relaying denied", TransportRejected),
        (Stage.RCPT, 550, "5.4.5 Daily SMTP relay limit exceeded for user", TransportRejected),
        (Stage.MAIL, 553, "5.1.8 Sender address rejected: Domain not found", MessageRejected),
        (Stage.MAIL, 550, "5.7.1 Sender not owned by user", TransportRejected),
        (Stage.DATA, 250, "ok?", TransientError),
    ],
)
def test_reply_error_classes(stage, code, text, expected):
    error = reply_error(stage, Reply(code, text))
    assert type(error) is expected
    assert str(code) in str(error) and error.response == f"{code} {text}"


def test_auth_hint_mentions_app_password():
    assert "app password" in str(reply_error(Stage.AUTH, Reply(534, "5.7.9 Application-specific password required")))


def test_retry_after_is_read_from_text():
    assert retry_after(Reply(421, "4.7.0 try again after 120 seconds")) == 120
    assert retry_after(Reply(454, "slow down, retry in 2 minutes")) == 120
    assert retry_after(Reply(451, "4.3.0 later")) is None
    error = reply_error(Stage.MAIL, Reply(454, "4.7.0 Throttling: try again after 30 seconds"))
    assert isinstance(error, RateLimited) and error.retry_after == 30


@pytest.mark.parametrize(
    ("code", "text", "verdict"),
    [
        (250, "2.1.5 Ok", Verdict.ACCEPTED),
        (251, "User not local; will forward", Verdict.ACCEPTED),
        (452, "4.5.3 Too many recipients", Verdict.DEFERRED),
        (452, "Too many recipients received this session", Verdict.DEFERRED),
        (552, "5.5.3 Too many recipients", Verdict.DEFERRED),  # RFC 5321 §4.5.3.1.10: treat as 452
        (552, "5.2.2 Mailbox full", Verdict.REFUSED),
        (452, "4.2.2 The email account that you tried to reach is over quota", Verdict.TEMPORARY),
        (451, "4.3.0 try later", Verdict.TEMPORARY),
        (550, "5.1.1 The email account that you tried to reach does not exist", Verdict.REFUSED),
        (553, "5.1.3 bad recipient address syntax", Verdict.REFUSED),
        (550, "5.7.1 Relaying denied", Verdict.TRANSPORT),
        (530, "5.7.0 Authentication required", Verdict.TRANSPORT),
    ],
)
def test_recipient_verdicts(code, text, verdict):
    assert recipient_verdict(Reply(code, text)) is verdict


def test_enhanced_code_parsing():
    assert Reply(550, "5.1.1 unknown").enhanced == "5.1.1"
    assert Reply(250, "Ok").enhanced is None


def test_all_refused_lists_each_recipient():
    error = all_refused({"a@x.org": "550 5.1.1 no", "b@x.org": "553 bad"})
    assert isinstance(error, MessageRejected)
    assert error.recipients == {"a@x.org": "550 5.1.1 no", "b@x.org": "553 bad"}
    assert "a@x.org" in str(error) and "b@x.org" in str(error)


def test_wire_failures_by_stage():
    assert type(disconnected(Stage.GREETING, "reset")) is ConnectionFailed
    assert type(disconnected(Stage.BODY, "reset")) is TransientError
    after = disconnected(Stage.END, "reset")
    assert isinstance(after, SendTimeout) and after.maybe_sent
    before = timed_out(Stage.RCPT, "deadline")
    assert isinstance(before, SendTimeout) and not before.maybe_sent
    late = timed_out(Stage.END, "deadline")
    assert isinstance(late, SendTimeout) and late.maybe_sent


def test_starttls_missing_warns_of_downgrade():
    error = starttls_missing("relay.example.com")
    assert isinstance(error, TransportRejected)
    assert "downgrade" in str(error) and "no credentials were tried" in str(error)
