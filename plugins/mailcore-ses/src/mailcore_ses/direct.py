"""SES v2 ``SendEmail`` without botocore's request pipeline: own JSON, own SigV4, mailcore's HTTP client.

botocore's ``client.send_email`` spends most of an attempt's CPU in its event system, parameter
validation, serializer, endpoint rules and response parser (about three quarters of the client
time per message in a py-spy profile, see docs/performance.md). For the requests this plugin
builds itself (:func:`mailcore_ses.payload.build_send_email`, no passthrough options) none of
that is needed: the body is the request dict as JSON (bytes base64-encoded, as botocore's
``rest-json`` serializer does), the request is signed with AWS Signature Version 4 using the
**credentials botocore resolved** (keys in the URL, the environment, shared files, SSO, instance
roles; refreshable credentials are refreshed by botocore's ``get_frozen_credentials``), and it
goes out through the transport's :class:`mailcore.http.ConnectionPool`.

An error answer is read the way botocore reads ``rest-json`` errors (the code from
``x-amzn-ErrorType`` or the body's ``__type``/``code``, the message from ``message``) and
classified by :func:`mailcore_ses.errors.classify_answer`, so both paths give the same errors.
A request with ``provider_options["ses"]`` (passthrough the plugin cannot vouch for) still goes
through botocore, which validates it first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from mailcore.http import ConnectionPool, HTTPAnswer
from mailcore.redact import Secret, mask_secrets
from mailcore.result import Delivery
from mailcore_ses.errors import SesAnswer, classify_answer, delivery_from_response

__all__ = ["SEND_EMAIL_PATH", "DirectSendEmail", "error_answer", "sigv4_headers"]

SEND_EMAIL_PATH = "/v2/email/outbound-emails"
_ALGORITHM = "AWS4-HMAC-SHA256"


def _json_default(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")  # a blob member, as botocore sends it
    raise TypeError(f"{type(value).__name__} cannot be sent to SES")


def encode_request(request: Mapping[str, Any]) -> bytes:
    """The ``rest-json`` body of a ``SendEmail`` request dict (blobs as base64)."""
    return json.dumps(request, separators=(",", ":"), default=_json_default).encode("utf-8")


_key_cache: dict[tuple[str, str, str, str], bytes] = {}
_key_lock = threading.Lock()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service (cached: it changes daily)."""
    cache_key = (secret, date, region, service)
    key = _key_cache.get(cache_key)
    if key is None:
        key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        with _key_lock:
            if len(_key_cache) >= 32:
                _key_cache.clear()
            _key_cache[cache_key] = key
    return key


def sigv4_headers(
    *,
    method: str,
    host: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    service: str,
    now: float,
) -> dict[str, str]:
    """The headers to add for AWS Signature Version 4: ``X-Amz-Date``, the session token and
    ``Authorization``. ``host`` is the ``Host`` header as sent; every one of ``headers`` is
    signed too. No query string (``SendEmail`` has none)."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    date = amz_date[:8]
    signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed["host"] = host
    signed["x-amz-date"] = amz_date
    added = {"X-Amz-Date": amz_date}
    if token:
        signed["x-amz-security-token"] = token
        added["X-Amz-Security-Token"] = token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            quote(path or "/", safe="/~"),
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"{_ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{_ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added


def error_answer(answer: HTTPAnswer, masked: Callable[[str], str]) -> SesAnswer:
    """An SES error answer read like botocore reads ``rest-json`` errors."""
    body: Any = {}
    if answer.body and not answer.truncated:
        try:
            body = json.loads(answer.body)
        except (ValueError, RecursionError):
            body = {}
    if not isinstance(body, dict):
        body = {}
    code = answer.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if not code:
        code = str(body.get("__type") or body.get("code") or body.get("Code") or "").rsplit("#", 1)[-1]
    message = body.get("message", body.get("Message", ""))
    if not code:  # not a JSON error (a proxy's HTML page): botocore names it by the status
        code = str(answer.status)
        message = message or http.client.responses.get(answer.status, "")
    request_id = answer.headers.get("x-amzn-requestid") or answer.headers.get("x-amz-request-id")
    return SesAnswer(status=answer.status, code=code, message=masked(str(message or "")), request_id=request_id)


class DirectSendEmail:
    """Sends one ``SendEmail`` request dict: signed here, over ``pool``, answer classified.

    ``endpoint_url`` is the API root botocore resolved (``client.meta.endpoint_url``);
    ``credentials`` is botocore's credentials object; ``region`` and ``service`` (``"ses"``,
    the sesv2 signing name) scope the signature.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        credentials: Any,
        region: str,
        service: str,
        pool: Callable[[str], ConnectionPool],
        secrets: tuple[str | Secret | None, ...],
    ) -> None:
        parts = urlsplit(endpoint_url)
        default_port = 443 if parts.scheme == "https" else 80
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.host = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
        self.path = parts.path.rstrip("/") + SEND_EMAIL_PATH
        self.url = f"{parts.scheme}://{parts.netloc}{self.path}"
        self.credentials = credentials
        self.region = region
        self.service = service
        self.pool = pool(self.url)
        self.secrets = secrets
        self._signed = {"Content-Type": "application/json"}  # with Host and X-Amz-Date

    def send(self, request: Mapping[str, Any]) -> Delivery:
        """POST the request; a :class:`~mailcore.http.RequestFailed` or a classified error is raised."""
        from botocore.exceptions import NoCredentialsError

        body = encode_request(request)
        frozen = self.credentials.get_frozen_credentials() if self.credentials is not None else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise NoCredentialsError()
        signature = sigv4_headers(
            method="POST", host=self.host, path=self.path, body=body, headers=self._signed,
            access_key=frozen.access_key, secret_key=frozen.secret_key, token=frozen.token,
            region=self.region, service=self.service, now=time.time(),
        )  # fmt: skip
        headers = {"Host": self.host, **self._signed, "User-Agent": "mailcore-ses", **signature}
        answer = self.pool.request("POST", self.url, body, headers, cache_headers=False)
        secrets = (*self.secrets, frozen.secret_key, frozen.token)
        if 200 <= answer.status < 300:
            return delivery_from_response(_success(answer))
        error = classify_answer(error_answer(answer, lambda text: mask_secrets(text, secrets)))
        raise error


def _success(answer: HTTPAnswer) -> dict[str, Any]:
    """The parsed 2xx answer; a cut, oversized or non-JSON body is "accepted, id unknown"."""
    parsed: Any = {}
    if answer.body and not answer.truncated:
        try:
            parsed = json.loads(answer.body)
        except (ValueError, RecursionError):
            parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    request_id = answer.headers.get("x-amzn-requestid") or answer.headers.get("x-amz-request-id")
    return {
        "MessageId": parsed.get("MessageId"),
        "ResponseMetadata": {"HTTPStatusCode": answer.status, "RequestId": request_id},
    }
