"""The pure Mailgun answer → outcome classification, table-driven."""

import json
from http.client import BadStatusLine, RemoteDisconnected

import pytest

from mailcore.errors import (
    ConnectionFailed,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.result import Delivery
from mailcore_mailgun.errors import classify_failure, classify_response, retry_after_seconds

NOW = 1_700_000_000.0
KEY = "key-secret-mailgun"


def msg(text):
    return json.dumps({"message": text}).encode()


CASES = [
    (200, {}, json.dumps({"id": "<1@mg>", "message": "Queued. Thank you."}).encode(), Delivery),
    (200, {}, b"<html>proxy page</html>", Delivery),
    (400, {}, msg("'to' parameter is not a valid address. please check documentation"), MessageRejected),
    (400, {}, msg("Domain mg.example.com is not allowed to send: domain is not verified"), TransportRejected),
    (401, {}, b"Forbidden", TransportRejected),
    (402, {}, msg("Request Failed"), TransportRejected),
    (403, {}, msg("Forbidden"), TransportRejected),
    (404, {}, msg("Domain not found: mg.example.com"), TransportRejected),
    (408, {}, b"", SendTimeout),
    (413, {}, b"Request Entity Too Large", MessageRejected),
    (
        429,
        {},
        msg(
            "Domain example.com is not allowed to send: account-requests-per-sec limit exceeded, try again after 120 seconds"
        ),
        RateLimited,
    ),
    (500, {}, msg("Internal Server Error"), TransientError),
    (503, {}, b"", TransientError),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected"), CASES)
def test_status_table(status, headers, body, expected):
    assert type(classify_response(status, headers, body, now=NOW)) is expected


def test_success_id_and_unreadable_body():
    assert classify_response(200, {}, msg("x")[:-1] + b',"id":"<1@mg>"}', now=NOW).provider_message_id == "<1@mg>"
    assert classify_response(200, {}, b"\xff garbage", now=NOW).provider_message_id is None
    assert classify_response(200, {}, None, now=NOW).provider_message_id is None


@pytest.mark.parametrize(
    ("headers", "text", "expected"),
    [
        ({"retry-after": "9"}, "", 9.0),
        ({"x-ratelimit-reset": str(int(NOW) + 15)}, "", 15.0),
        ({"x-ratelimit-reset": str(int(NOW * 1000) + 15000)}, "", 15.0),
        ({}, "limit exceeded, try again after 120 seconds", 120.0),
        ({}, "slow down", None),
    ],
)
def test_retry_after(headers, text, expected):
    assert (
        retry_after_seconds(headers, text, now=NOW) == pytest.approx(expected)
        if expected
        else retry_after_seconds(headers, text, now=NOW) is None
    )


def test_rate_limit_text_gives_retry_after():
    outcome = classify_response(429, {}, msg("try again after 120 seconds"), now=NOW)
    assert outcome.retry_after == 120.0


def test_api_key_is_masked():
    outcome = classify_response(401, {}, msg(f"bad key {KEY}"), now=NOW, secrets=(KEY,))
    assert KEY not in str(outcome) and KEY not in repr(outcome.response)


@pytest.mark.parametrize(
    ("error", "body_sent", "expected", "maybe_sent"),
    [
        (ConnectionRefusedError(111, "refused"), False, ConnectionFailed, None),
        (TimeoutError("connect timed out"), False, SendTimeout, False),  # a hang before hand-over: fail over
        (BadStatusLine("garbage"), True, SendTimeout, True),  # unreadable answer after the request
        (TimeoutError("read timed out"), True, SendTimeout, True),
        (RemoteDisconnected("closed"), True, SendTimeout, True),
    ],
)
def test_failure_table(error, body_sent, expected, maybe_sent):
    outcome = classify_failure(error, body_sent=body_sent)
    assert type(outcome) is expected
    if maybe_sent is not None:
        assert outcome.maybe_sent is maybe_sent
