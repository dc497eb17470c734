"""The direct SendEmail path signs, serializes and reads errors exactly as botocore does.

moto's server mode does not check signatures, so the signature is checked here against
botocore's own ``SigV4Auth`` (property-based: any body, keys, token, region, host, time), the
body against botocore's ``rest-json`` serializer, and error answers against botocore's parser.
"""

from __future__ import annotations

import calendar
import json
import time

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcore import Attachment, Message
from mailcore.http import HTTPAnswer
from mailcore_ses.direct import SEND_EMAIL_PATH, encode_request, error_answer, sigv4_headers
from mailcore_ses.payload import SesOptions, build_send_email

_MODEL = botocore.session.get_session().get_service_model("sesv2").operation_model("SendEmail")

keys = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=20)
secrets = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
regions = st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2"])
hosts = st.sampled_from(["email.eu-west-1.amazonaws.com", "127.0.0.1:4566", "vpce.example.com"])


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300),
    access_key=keys,
    secret_key=secrets,
    token=st.none() | st.text("abcdefXYZ0123456789/+=", min_size=1, max_size=60),
    region=regions,
    host=hosts,
    when=st.integers(min_value=1_500_000_000, max_value=2_000_000_000),
)
def test_signature_is_the_one_botocore_computes(body, access_key, secret_key, token, region, host, when):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    request = AWSRequest(
        method="POST", url=f"https://{host}{SEND_EMAIL_PATH}", data=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    _sign_at(SigV4Auth(Credentials(access_key, secret_key, token), "ses", region), request, stamp)
    ours = sigv4_headers(
        method="POST", host=host, path=SEND_EMAIL_PATH, body=body, headers={"Content-Type": "application/json"},
        access_key=access_key, secret_key=secret_key, token=token, region=region, service="ses",
        now=calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")),
    )  # fmt: skip
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def _sign_at(signer: SigV4Auth, request: AWSRequest, stamp: str) -> None:
    """botocore's add_auth at a fixed time (it reads the clock through ``get_current_datetime``)."""
    import datetime
    from unittest import mock

    fixed = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        signer.add_auth(request)


def _botocore_body(request: dict) -> object:
    serialized = create_serializer("rest-json").serialize_to_request(request, _MODEL)
    return json.loads(serialized["body"])


def test_raw_request_body_is_what_botocore_sends():
    message = Message("a@example.com", ["b@example.org"], "Hi ✓", text="body", html="<p>x</p>", tags=["t"])
    request = build_send_email(message, SesOptions(configuration_set="cs"))
    assert json.loads(encode_request(request)) == _botocore_body(request)


def test_template_request_with_attachment_body_is_what_botocore_sends():
    message = Message(
        "a@example.com", ["b@example.org"], "", template_id="welcome", template_data={"name": "Ann"},
        attachments=[Attachment("x.bin", b"\x00\x01binary\xff", "application/octet-stream")],
    )  # fmt: skip
    request = build_send_email(message, SesOptions())
    assert json.loads(encode_request(request)) == _botocore_body(request)


def _botocore_error(status: int, headers: dict[str, str], body: bytes) -> dict:
    parsed = create_parser("rest-json").parse(
        {"status_code": status, "headers": headers, "body": body}, _MODEL.output_shape
    )
    return parsed["Error"]


ERRORS = [
    (400, {"x-amzn-errortype": "MessageRejected:http://internal.amazon.com/"}, b'{"message": "Email address is not verified."}'),
    (400, {}, b'{"__type": "com.amazonaws.sesv2#BadRequestException", "message": "bad"}'),
    (429, {}, b'{"code": "TooManyRequestsException", "Message": "slow down"}'),
    (403, {"x-amzn-errortype": "InvalidClientTokenId"}, b""),
    (502, {}, b"<html>Bad Gateway</html>"),
]  # fmt: skip


def test_error_answers_read_like_botocore():
    for status, headers, body in ERRORS:
        expected = _botocore_error(status, headers, body)
        answer = error_answer(HTTPAnswer(status, headers, body), lambda text: text)
        assert (answer.code, answer.message) == (expected["Code"], expected.get("Message", "")), (status, body)
        assert answer.status == status
