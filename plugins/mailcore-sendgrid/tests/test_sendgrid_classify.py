"""The pure SendGrid answer → outcome classification, table-driven."""

import json
import ssl
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
from mailcore_sendgrid.errors import classify_failure, classify_response, classify_sdk_error, retry_after_seconds

NOW = 1_700_000_000.0
KEY = "SG.secret-key-value"


def errors(*items):
    return json.dumps({"errors": [{"message": m, "field": f, "help": None} for m, f in items]}).encode()


CASES = [
    # status, headers, body, expected class
    (202, {"x-message-id": "abc"}, b"", Delivery),
    (200, {}, b"not json at all", Delivery),
    (400, {}, errors(("The to array is required", "personalizations.0.to")), MessageRejected),
    (400, {}, errors(("The from address does not match a verified Sender Identity.", "from")), TransportRejected),
    (401, {}, errors(("The provided authorization grant is invalid", None)), TransportRejected),
    (403, {}, errors(("access forbidden", None)), TransportRejected),
    (404, {}, b"", TransportRejected),
    (408, {}, b"", SendTimeout),
    (413, {}, b"content too large", MessageRejected),
    (429, {"x-ratelimit-reset": str(int(NOW) + 30)}, b"", RateLimited),
    (451, {}, b"", TransportRejected),
    (500, {}, b"", TransientError),
    (502, {}, b"<html>bad gateway</html>", TransientError),
    (503, {}, errors(("v3 Web API is not available", None)), TransientError),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected"), CASES)
def test_status_table(status, headers, body, expected):
    outcome = classify_response(status, headers, body, now=NOW, secrets=(KEY,))
    assert type(outcome) is expected


def test_success_carries_the_x_message_id():
    assert classify_response(202, {"x-message-id": "abc"}, None, now=NOW).provider_message_id == "abc"
    assert classify_response(202, {}, None, now=NOW).provider_message_id is None


def test_rejection_names_the_provider_text_and_field():
    outcome = classify_response(400, {}, errors(("Invalid type", "personalizations.0.to.0.email")), now=NOW)
    assert "Invalid type (field personalizations.0.to.0.email)" in str(outcome)
    assert outcome.response["errors"][0]["field"] == "personalizations.0.to.0.email"


def test_408_is_not_maybe_sent():
    assert classify_response(408, {}, b"", now=NOW).maybe_sent is False


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, 20.0),
        ({"x-ratelimit-reset": str(int(NOW) + 30)}, 30.0),
        ({"x-ratelimit-reset": str(int(NOW) - 30)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after_seconds(headers, now=NOW) == expected
    assert classify_response(429, headers, b"", now=NOW).retry_after == expected


def test_api_key_is_masked_in_error_text_and_response():
    body = errors((f"key {KEY} is revoked", None))
    outcome = classify_response(401, {}, body, now=NOW, secrets=(KEY,))
    assert KEY not in str(outcome) and KEY not in repr(outcome.response) and "***" in str(outcome)


@pytest.mark.parametrize(
    ("error", "body_sent", "expected", "maybe_sent"),
    [
        (ConnectionRefusedError(111, "Connection refused"), False, ConnectionFailed, None),
        (TimeoutError("timed out"), False, SendTimeout, False),  # a hang before hand-over: fail over
        (BadStatusLine("garbage"), True, SendTimeout, True),  # unreadable answer after the request
        (BrokenPipeError(32, "Broken pipe"), False, ConnectionFailed, None),
        (TimeoutError("timed out"), True, SendTimeout, True),
        (RemoteDisconnected("closed"), True, SendTimeout, True),
        (ConnectionResetError(104, "reset"), True, SendTimeout, True),
        (ssl.SSLCertVerificationError("self-signed certificate"), False, TransportRejected, None),
    ],
)
def test_failure_table(error, body_sent, expected, maybe_sent):
    outcome = classify_failure(error, body_sent=body_sent)
    assert type(outcome) is expected
    if maybe_sent is not None:
        assert outcome.maybe_sent is maybe_sent


def test_official_client_errors_get_the_same_classes():
    from python_http_client.exceptions import HTTPError

    class FakeResponse:  # the shape urllib's HTTPError gives python_http_client
        def __init__(self, code, headers, body):
            self.code, self.hdrs, self._body, self.reason = code, headers, body, "x"

        def read(self):
            return self._body

    sdk_error = HTTPError(FakeResponse(429, {"Retry-After": "3"}, b""))
    assert sdk_error.status_code == 429
    outcome = classify_sdk_error(sdk_error, now=NOW)
    assert isinstance(outcome, RateLimited) and outcome.retry_after == 3.0
