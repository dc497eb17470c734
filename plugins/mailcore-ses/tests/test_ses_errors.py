"""The pure classification: every row of the SES table, and every botocore exception kind."""

from __future__ import annotations

import pytest
from botocore import exceptions as boto_errors

from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    InvalidMessage,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.redact import Secret
from mailcore_ses.errors import (
    QUOTA_RETRY_AFTER,
    THROTTLE_RETRY_AFTER,
    SesAnswer,
    classify_answer,
    classify_exception,
    delivery_from_response,
)

SANDBOX = (
    "Email address is not verified. The following identities failed the check in region EU-WEST-1: stranger@example.org"
)

# (status, code, message, expected class, expected retry_after)
TABLE = [
    (400, "MessageRejected", "Message contains a virus", MessageRejected, None),
    (400, "MessageRejected", SANDBOX, TransportRejected, None),
    (400, "MessageRejected", "Did not have authority to send from email x@nope.example", TransportRejected, None),
    (400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified", TransportRejected, None),
    (404, "NotFoundException", "Configuration set <cs> does not exist.", TransportRejected, None),
    (400, "AccountSuspendedException", "Account suspended", TransportRejected, None),
    (400, "SendingPausedException", "Sending paused for this account", TransportRejected, None),
    (400, "BadRequestException", "Missing final '@domain'", MessageRejected, None),
    (429, "TooManyRequestsException", "Maximum sending rate exceeded.", RateLimited, THROTTLE_RETRY_AFTER),
    (400, "Throttling", "Maximum sending rate exceeded.", RateLimited, THROTTLE_RETRY_AFTER),
    (400, "Throttling", "Daily message quota exceeded.", RateLimited, QUOTA_RETRY_AFTER),
    (429, "TooManyRequestsException", "Daily message quota exceeded.", RateLimited, QUOTA_RETRY_AFTER),
    (400, "LimitExceededException", "Too many instances", RateLimited, QUOTA_RETRY_AFTER),
    (500, "InternalFailure", "internal error", TransientError, None),
    (503, "ServiceUnavailable", "unavailable", TransientError, None),
    (502, "Unknown", "<html>Bad Gateway</html>", TransientError, None),
    (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        TransportRejected,
        None,
    ),
    (403, "InvalidClientTokenId", "The security token included in the request is invalid.", TransportRejected, None),
    (403, "SignatureDoesNotMatch", "The request signature we calculated does not match", TransportRejected, None),
    (403, "AccessDeniedException", "not authorized to perform: ses:SendEmail", TransportRejected, None),
    (400, "ExpiredTokenException", "The security token included in the request is expired", TransportRejected, None),
    (413, "Unknown", "Request entity too large", MessageRejected, None),
    (401, "Unknown", "", TransportRejected, None),
    (429, "Unknown", "slow down", RateLimited, THROTTLE_RETRY_AFTER),
    (400, "SomethingNew", "a code this table does not know", MessageRejected, None),
]


@pytest.mark.parametrize(("status", "code", "text", "expected", "retry_after"), TABLE)
def test_decision_table(status, code, text, expected, retry_after):
    error = classify_answer(SesAnswer(status, code, text, "req-1"))
    assert type(error) is expected
    assert code in str(error)
    assert error.response == {"status": status, "code": code, "message": text, "request_id": "req-1"}
    if expected is RateLimited:
        assert error.retry_after == retry_after


def client_error(status, code, message):
    return boto_errors.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r"}},
        "SendEmail",
    )


def test_client_errors_go_through_the_table():
    error = classify_exception(client_error(400, "AccountSuspendedException", "suspended"))
    assert type(error) is TransportRejected
    assert error.response["status"] == 400


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (boto_errors.NoCredentialsError(), ConfigurationError),
        (boto_errors.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), ConfigurationError),
        (boto_errors.NoRegionError(), ConfigurationError),
        (boto_errors.EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com"), ConnectionFailed),
        (boto_errors.ConnectTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com"), ConnectionFailed),
        (boto_errors.SSLError(endpoint_url="https://x", error="certificate verify failed"), TransportRejected),
        (boto_errors.ProxyConnectionError(proxy_url="http://proxy", error="refused"), ConnectionFailed),
        (boto_errors.CredentialRetrievalError(provider="sso", error_msg="expired"), TransportRejected),
        (boto_errors.ParamValidationError(report="Unknown parameter in input: 'Bogus'"), InvalidMessage),
        (RuntimeError("something unexpected"), TransientError),
    ],
)
def test_botocore_exceptions(raised, expected):
    assert type(classify_exception(raised)) is expected


@pytest.mark.parametrize(
    "raised",
    [
        boto_errors.ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
        boto_errors.ConnectionClosedError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
    ],
)
def test_no_answer_after_sending_may_have_been_sent(raised):
    error = classify_exception(raised)
    assert type(error) is SendTimeout
    assert error.maybe_sent is True


def test_connection_failures_are_known_not_sent():
    assert not isinstance(classify_exception(boto_errors.EndpointConnectionError(endpoint_url="u")), SendTimeout)


def test_secrets_are_masked_in_text_and_response():
    key, secret = "AKIAFAKEKEY123", "s3cr3t/Value+xyz"
    raised = client_error(403, "SignatureDoesNotMatch", f"Credential={key}/20260101 secret {secret}")
    error = classify_exception(raised, [key, Secret(secret)])
    shown = f"{error} {error!r} {error.response}"
    assert key not in shown and secret not in shown
    assert "***" in str(error)


def test_success_carries_the_message_id():
    delivery = delivery_from_response(
        {"MessageId": "0102abc", "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "r"}}
    )
    assert delivery.provider_message_id == "0102abc"
    assert delivery.response == {"status": 200, "request_id": "r"}


def test_success_with_unreadable_body_has_no_id():
    assert (
        delivery_from_response({"message": "garbage", "ResponseMetadata": {"HTTPStatusCode": 200}}).provider_message_id
        is None
    )
