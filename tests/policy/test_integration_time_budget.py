"""The time budget over real HTTP peers on 127.0.0.1: SendGrid, Mailgun and SES alike (issue 12).

Runs in the nox "plugins" session (every plugin installed). Timings are bounds with generous
margins, never speed assertions: a hung provider must cost seconds, not minutes.
"""

from __future__ import annotations

import time

import pytest

import mailcore_mailgun  # noqa: F401  (a missing plugin is an error here, never a silent skip)
import mailcore_sendgrid  # noqa: F401
import mailcore_ses  # noqa: F401
from mailcore import Mailer
from mailcore.errors import DeliveryFailed, SendTimeout
from mailcore.policy import RetryPolicy
from mailcore.testing.http_sink import HTTPSink, Reply, SilentPeer, mailgun_reply, sendgrid_reply

from .conftest import make_message

SES_OK = {"MessageId": "ses-1"}


def url(kind: str, base: str, **params: str) -> str:
    """A transport URL for ``kind`` pointed at ``base``, with extra query parameters."""
    query = "".join(f"&{k}={v}" for k, v in params.items())
    if kind == "sendgrid":
        return f"sendgrid://SG.test-key@?endpoint_url={base}{query}"
    if kind == "mailgun":
        return f"mailgun://key-test@mg.example.com?endpoint_url={base}{query}"
    return f"ses://AKIDTEST:secret-test@?region=eu-west-1&endpoint_url={base}{query}"


def sink_for(kind: str) -> HTTPSink:
    default = {"sendgrid": sendgrid_reply, "mailgun": mailgun_reply}.get(kind, lambda _request: Reply(200, body=SES_OK))
    return HTTPSink(default=default)


KINDS = ["sendgrid", "mailgun", "ses"]


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_fail_over_from_an_endpoint_that_never_answers(kind):
    """Accepts TCP, never reads the request (the TLS handshake hangs): the backup delivers in ≤ 15 s."""
    with SilentPeer() as silent, Mailer(f"failover({url(kind, silent.url())} memory://backup)", state="memory://") as m:
        started = time.monotonic()  # the clients are built (open): time the send alone
        result = m.send(make_message())
        elapsed = time.monotonic() - started
    assert result.transport == "memory://backup"
    assert isinstance(result.attempts[0].error, SendTimeout) and not result.attempts[0].error.maybe_sent
    assert elapsed <= 15, elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_a_dripped_answer_ends_the_attempt_on_time_as_maybe_sent(kind):
    """``?timeout=2``, the answer dripped one byte per 0.3 s: ≤ 3 s, maybe sent, exactly 1 request."""
    body = SES_OK if kind == "ses" else {"id": "<x@mg>", "message": "Queued"}
    with sink_for(kind) as sink:
        sink.script(Reply(200, body=body, action="drip", delay=0.3))
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as caught:
            Mailer(url(kind, sink.url, timeout="2"), state="memory://").send(make_message())
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # a resend would show up at the peer by now
        assert sink.count == 1
    assert caught.value.outcome == "unknown"
    assert elapsed <= 3, elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_the_message_deadline_cuts_an_attempt_already_running(kind):
    """``RetryPolicy(deadline=3)`` against a peer that reads the request and never answers: ≤ 4 s."""
    with sink_for(kind) as sink:
        sink.script(Reply(action="hang", delay=30))
        started = time.monotonic()
        with pytest.raises(DeliveryFailed):
            Mailer(url(kind, sink.url), retry=RetryPolicy(deadline=3), state="memory://").send(make_message())
        elapsed = time.monotonic() - started
    assert elapsed <= 4, elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_the_message_deadline_cuts_a_hung_connect(kind):
    """``RetryPolicy(deadline=3)`` against a silent endpoint (handshake never completes): ≤ 4 s."""
    with SilentPeer() as silent:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as caught:
            Mailer(url(kind, silent.url()), retry=RetryPolicy(deadline=3), state="memory://").send(make_message())
        elapsed = time.monotonic() - started
    assert caught.value.outcome == "failed"  # nothing was handed over
    assert elapsed <= 4, elapsed


MALFORMED = {
    "garbage status line": b"SMTP? no.\r\n\r\n",
    "non-numeric status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "more than 100 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("answer", sorted(MALFORMED))
def test_an_unreadable_answer_after_the_full_request_is_maybe_sent(kind, answer):
    """Mailgun used to call this a connection failure and send three copies."""
    with sink_for(kind) as sink:
        sink.script(Reply(action="raw", raw=MALFORMED[answer]))
        with pytest.raises(DeliveryFailed) as caught:
            Mailer(url(kind, sink.url, timeout="5"), state="memory://").send(make_message())
        time.sleep(0.3)
        assert sink.count == 1
    assert caught.value.outcome == "unknown"


@pytest.mark.parametrize("kind", KINDS)
def test_a_2xx_with_a_huge_body_is_read_with_a_cap_and_sent_once(kind):
    """A 200 whose body is far larger than any provider id: accepted (id unknown), never resent."""
    huge = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n" + b"[" * 200_000
    with sink_for(kind) as sink:
        sink.script(Reply(action="raw", raw=huge))
        result = Mailer(url(kind, sink.url, timeout="5"), state="memory://").send(make_message())
        time.sleep(0.3)
        assert sink.count == 1
    assert result.provider_message_id is None


BROKEN_2XX = {
    "not JSON": Reply(200, body=b'{"MessageId": "cut'),
    "cut off": Reply(action="raw", raw=b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"MessageId": "cut'),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_2XX))
def test_ses_200_with_a_broken_body_is_a_success_not_a_retried_error(broken):
    with sink_for("ses") as sink:
        sink.script(BROKEN_2XX[broken])
        result = Mailer(url("ses", sink.url, timeout="5"), state="memory://").send(make_message())
        assert sink.count == 1
    assert result.provider_message_id is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_non_finite_or_non_positive_timeouts_are_configuration_errors(kind, value):
    from mailcore.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="timeout"):
        Mailer(url(kind, "http://127.0.0.1:9", timeout=value))


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_error_is_retried_on_a_fresh_connection(kind):
    """A 503 may come from a bad backend behind a keep-alive connection: the retry reconnects."""
    with sink_for(kind) as sink:
        sink.script(Reply(503, body={"message": "unavailable"}))
        with Mailer(url(kind, sink.url, timeout="5"), retry={"first_delay": 0}, state="memory://") as mailer:
            result = mailer.send(make_message())
        assert sink.count == 2 and sink.connections == 2
    assert result.attempts[-1].error is None and len(result.attempts) == 2
