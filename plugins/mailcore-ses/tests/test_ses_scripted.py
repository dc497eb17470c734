"""End to end through botocore against a scripted SES v2 server on 127.0.0.1.

moto cannot produce most SES errors, so this server answers like SES does (JSON bodies, the
code in ``x-amzn-ErrorType`` or ``__type``) and counts requests: one attempt, one request.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json

import pytest

from mailcore import Mailer, Message
from mailcore.config import parse_url
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
from mailcore.testing import TransportContract
from mailcore_ses.errors import QUOTA_RETRY_AFTER, THROTTLE_RETRY_AFTER
from mailcore_ses.transport import SesTransport

REGION = "eu-west-1"


def sample(**changes):
    message = Message("Sender <sender@example.com>", ["rcpt@example.org"], "Hello", text="body")
    return message.replace(**changes) if changes else message


class TestSesContractOnScriptedServer(TransportContract):
    @pytest.fixture
    def transport(self, scripted):
        self.server = scripted
        with SesTransport(region=REGION, endpoint_url=scripted.endpoint, timeout=5) as transport:
            yield transport

    @pytest.fixture
    def failing_transport(self, scripted):
        scripted.error(500, "InternalFailure", "boom")
        return SesTransport(region=REGION, endpoint_url=scripted.endpoint, timeout=5)

    def unsupported_message(self):
        return Message("sender@example.com", [f"r{i}@example.org" for i in range(51)], "s", text="t")

    def io_count(self, transport):
        return len(self.server.requests)


def test_request_body_carries_content_tags_and_configuration_set(scripted):
    message = sample(tags=["welcome"], metadata={"user_id": "42"}, bcc=["hidden@example.net"])
    with Mailer(scripted.url(configuration_set="transactional", timeout="5")) as mailer:
        result = mailer.send(message)
    assert result.provider_message_id == "scripted-1"
    (request,) = scripted.requests
    assert (request.method, request.path) == ("POST", "/v2/email/outbound-emails")
    assert "Credential=testing/" in request.headers["Authorization"]
    body = request.json()
    assert body["FromEmailAddress"] == "sender@example.com"
    assert body["Destination"] == {"ToAddresses": ["rcpt@example.org"], "BccAddresses": ["hidden@example.net"]}
    assert body["ConfigurationSetName"] == "transactional"
    tags = {tag["Name"]: tag["Value"] for tag in body["EmailTags"]}
    assert tags["welcome"] == "true" and tags["user_id"] == "42"
    assert tags["mailcore-id"].startswith(message.correlation_id.split("@")[0])
    raw = email.message_from_bytes(base64.b64decode(body["Content"]["Raw"]["Data"]), policy=email.policy.default)
    assert raw["X-Mailcore-ID"] == message.correlation_id
    assert raw["Subject"] == "Hello"


def test_template_request_arrives_as_json(scripted):
    message = sample(subject="", text=None, template_id="welcome-v2", template_data={"name": "Ada"})
    SesTransport(region=REGION, endpoint_url=scripted.endpoint).send(message)
    template = scripted.requests[0].json()["Content"]["Template"]
    assert template["TemplateName"] == "welcome-v2"
    assert json.loads(template["TemplateData"]) == {"name": "Ada"}
    assert {"Name": "X-Mailcore-ID", "Value": message.correlation_id} in template["Headers"]


def test_provider_options_arrive(scripted):
    extra = {
        "ListManagementOptions": {"ContactListName": "news"},
        "ConfigurationOverrides": {"Tracking": {"ClickTrackingEnabled": "DISABLED"}},
    }
    SesTransport(region=REGION, endpoint_url=scripted.endpoint).send(sample(provider_options={"ses": extra}))
    body = scripted.requests[0].json()
    assert body["ListManagementOptions"] == {"ContactListName": "news"}
    assert body["ConfigurationOverrides"] == {"Tracking": {"ClickTrackingEnabled": "DISABLED"}}


def test_invalid_passthrough_is_refused_before_any_request(scripted):
    transport = SesTransport(region=REGION, endpoint_url=scripted.endpoint)
    with pytest.raises(InvalidMessage, match="Bogus"):
        transport.send(sample(provider_options={"ses": {"Bogus": 1}}))
    assert scripted.requests == []


ANSWERS = [
    (400, "MessageRejected", "Message contains a virus", MessageRejected, None),
    (
        400,
        "MessageRejected",
        "Email address is not verified. The following identities failed the check in region EU-WEST-1: a@b.example",
        TransportRejected,
        None,
    ),
    (400, "MailFromDomainNotVerifiedException", "not verified", TransportRejected, None),
    (404, "NotFoundException", "Configuration set does not exist", TransportRejected, None),
    (400, "AccountSuspendedException", "suspended", TransportRejected, None),
    (400, "SendingPausedException", "paused", TransportRejected, None),
    (400, "BadRequestException", "invalid", MessageRejected, None),
    (429, "TooManyRequestsException", "Maximum sending rate exceeded.", RateLimited, THROTTLE_RETRY_AFTER),
    (400, "LimitExceededException", "Daily message quota exceeded.", RateLimited, QUOTA_RETRY_AFTER),
    (500, "InternalFailure", "internal", TransientError, None),
    (503, "ServiceUnavailable", "unavailable", TransientError, None),
    (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        TransportRejected,
        None,
    ),
    (403, "SignatureDoesNotMatch", "signature mismatch", TransportRejected, None),
    (403, "AccessDeniedException", "not authorized to perform ses:SendEmail", TransportRejected, None),
]


@pytest.mark.parametrize("in_body", [False, True], ids=["x-amzn-ErrorType", "__type"])
@pytest.mark.parametrize(("status", "code", "text", "expected", "retry_after"), ANSWERS)
def test_each_answer_gives_its_class_in_exactly_one_request(
    scripted, in_body, status, code, text, expected, retry_after
):
    scripted.error(status, code, text, in_body=in_body)
    transport = SesTransport(region=REGION, endpoint_url=scripted.endpoint, timeout=5)
    with pytest.raises(expected) as caught:
        transport.send(sample())
    error = caught.value
    assert type(error) is expected
    assert error.transport == transport.name
    assert error.response["code"] == code and error.response["status"] == status
    if retry_after is not None:
        assert error.retry_after == retry_after
    assert len(scripted.requests) == 1, "botocore must not retry behind the policy's back"


def test_an_unparsable_5xx_is_transient_and_not_retried(scripted):
    scripted.reply(status=502, body=b"<html>Bad Gateway</html>")
    with pytest.raises(TransientError) as caught:
        SesTransport(region=REGION, endpoint_url=scripted.endpoint).send(sample())
    assert caught.value.response["status"] == 502
    assert len(scripted.requests) == 1


def test_2xx_with_unreadable_body_is_a_success_without_id(scripted):
    scripted.reply(status=200, body=b"<<not json>>")
    result = SesTransport(region=REGION, endpoint_url=scripted.endpoint).send(sample())
    assert result.provider_message_id is None
    assert len(scripted.requests) == 1


def test_read_timeout_after_sending_may_have_been_sent(scripted):
    scripted.reply(body={"MessageId": "late"}, delay=1.5)
    transport = SesTransport(region=REGION, endpoint_url=scripted.endpoint, timeout=0.3)
    with pytest.raises(SendTimeout) as caught:
        transport.send(sample())
    assert caught.value.maybe_sent is True
    assert len(scripted.requests) == 1


def test_connection_dropped_after_sending_may_have_been_sent(scripted):
    scripted.reply(hang_up=True)
    with pytest.raises(SendTimeout) as caught:
        SesTransport(region=REGION, endpoint_url=scripted.endpoint, timeout=5).send(sample())
    assert caught.value.maybe_sent is True
    assert len(scripted.requests) == 1


def test_refused_connection_is_connection_failed(closed_port):
    with pytest.raises(ConnectionFailed) as caught:
        SesTransport(region=REGION, endpoint_url=f"http://127.0.0.1:{closed_port}", timeout=2).send(sample())
    assert not isinstance(caught.value, SendTimeout)


def test_https_endpoint_trusted_through_cafile(tls_scripted):
    url = tls_scripted.url(cafile=tls_scripted.cafile, timeout="5")
    assert Mailer(url).send(sample()).provider_message_id == "scripted-1"


def test_untrusted_certificate_is_transport_rejected(tls_scripted):
    """provider-errors.md §1.5: a certificate failure fails over and is never retried."""
    with pytest.raises(TransportRejected, match="TLS verification failed"):
        SesTransport(region=REGION, endpoint_url=tls_scripted.endpoint, timeout=5).send(sample())
    assert tls_scripted.requests == []


def test_missing_credentials_are_a_configuration_error_before_any_request(scripted, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigurationError, match=r"^ses://\?region=eu-west-1.*credential"):
        SesTransport(region=REGION, endpoint_url=scripted.endpoint).send(sample())
    assert scripted.requests == []


def test_missing_region_is_a_configuration_error(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match="region"):
        SesTransport().send(sample())


def test_url_credentials_sign_requests_and_never_show(scripted):
    key, secret = "AKIAFAKE0123456789", "fake/secret+value"
    scripted.error(403, "InvalidClientTokenId", f"bad token for {key} ({secret})")
    url = f"ses://{key}:{secret.replace('/', '%2F').replace('+', '%2B')}@?region={REGION}&endpoint_url={scripted.endpoint}"
    transport = SesTransport.from_url(parse_url(url))
    with pytest.raises(TransportRejected) as caught:
        transport.send(sample())
    assert f"Credential={key}/" in scripted.requests[0].headers["Authorization"]
    shown = f"{caught.value} {caught.value!r} {caught.value.response} {caught.value.transport}"
    assert key not in shown and secret not in shown


def test_suspended_account_fails_over_to_the_next_transport(scripted):
    from mailcore.testing import clear_outboxes, outbox

    clear_outboxes()
    scripted.error(400, "AccountSuspendedException", "Account suspended")
    with Mailer(f"failover({scripted.url(timeout='5')} memory://ses-backup)") as mailer:
        result = mailer.send(sample())
    assert result.transport == "memory://ses-backup"
    assert isinstance(result.attempts[0].error, TransportRejected)
    assert len(outbox("ses-backup")) == 1
    assert len(scripted.requests) == 1
