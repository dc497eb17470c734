"""The SendGrid transport: ``sendgrid://API_KEY@?region=eu&timeout=10``.

Each attempt is exactly one ``POST /v3/mail/send`` over a pooled keep-alive connection
(:class:`mailcore.http.ConnectionPool`), bounded by the wall clock: connect, TLS, request and
answer together take at most ``timeout`` seconds, and never run past the message deadline. The body comes from the
pure :func:`~mailcore_sendgrid.payload.build_payload`, the outcome from the pure
:func:`~mailcore_sendgrid.errors.classify_response`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

from mailcore.budget import positive_seconds
from mailcore.bulk.model import Batch, RecipientResult
from mailcore.capabilities import coerce_capabilities
from mailcore.checks import network_steps
from mailcore.config import TransportURL, mask_endpoint
from mailcore.errors import ConfigurationError, SendError
from mailcore.http import ConnectionPool, RequestFailed, api_base_url
from mailcore.message import Message
from mailcore.redact import MASK, Secret, mask_secrets
from mailcore.result import Delivery
from mailcore.tlscontext import client_context
from mailcore.transport import CheckStep, ProviderTransport
from mailcore.validate import INSECURE_HTTP_PARAM
from mailcore_sendgrid.errors import classify_failure, classify_response
from mailcore_sendgrid.payload import build_payload, encode_payload
from mailcore_sendgrid.plugin import CAPABILITIES

__all__ = ["ENV_API_KEY", "REGIONS", "SendGridTransport"]

ENV_API_KEY = "SENDGRID_API_KEY"
REGIONS = {"global": "https://api.sendgrid.com", "us": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
DEFAULT_TIMEOUT = 30.0
SEND_PATH = "/v3/mail/send"
SCOPES_PATH = "/v3/scopes"
URL_PARAMS = ("region", "endpoint_url", "timeout", "cafile", "ignore_unsupported", INSECURE_HTTP_PARAM)


class SendGridTransport(ProviderTransport):
    """Deliver through SendGrid's v3 Mail Send API; safe to share across threads."""

    capabilities = coerce_capabilities(CAPABILITIES, "sendgrid")

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        region: str = "global",
        endpoint_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cafile: str | None = None,
        ignore_unsupported: bool = False,
        insecure_http: bool = False,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(ENV_API_KEY) or None
        if not api_key:
            raise ConfigurationError(f"sendgrid:// needs an API key: sendgrid://API_KEY@ or ${ENV_API_KEY}")
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        timeout = positive_seconds(timeout, "timeout", "sendgrid://")
        base_url = api_base_url(
            "sendgrid", region=region, regions=REGIONS, endpoint_url=endpoint_url, insecure_http=insecure_http
        )
        self.region = region
        self.endpoint_url = base_url
        self.timeout = timeout
        self.ignore_unsupported = ignore_unsupported
        context = client_context(cafile) if base_url.startswith("https") else None
        self._pool = ConnectionPool(base_url, timeout=timeout, ssl_context=context)
        self.connect_timeout = self._pool.connect_timeout
        key = self._api_key.reveal()
        self._headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "mailcore-sendgrid/0.1",
        }
        if endpoint_url:
            self.name = f"sendgrid://{MASK}@?endpoint_url={mask_endpoint(base_url)}"
        else:
            self.name = f"sendgrid://{MASK}@" if region == "global" else f"sendgrid://{MASK}@?region={region}"

    @classmethod
    def from_url(cls, url: TransportURL) -> SendGridTransport:
        """Build from ``sendgrid://API_KEY@?region=eu&timeout=10&endpoint_url=…&cafile=…``."""
        url.check_no_host("use sendgrid://API_KEY@?region=…")
        url.check_params(URL_PARAMS)
        api_key: str | Secret | None = url.password if url.password is not None else url.username
        return cls(
            api_key or None,
            region=url.get_choice("region", tuple(REGIONS), "global"),
            endpoint_url=url.get("endpoint_url"),
            timeout=url.get_seconds("timeout", DEFAULT_TIMEOUT),
            cafile=url.get("cafile"),
            ignore_unsupported=url.get_bool("ignore_unsupported"),
            insecure_http=url.get_bool(INSECURE_HTTP_PARAM),
        )

    # -- sending ---------------------------------------------------------------------------

    def deliver(self, message: Message) -> Delivery:
        body = encode_payload(build_payload(message, ignore_unsupported=self.ignore_unsupported))
        try:
            answer = self._pool.request("POST", SEND_PATH, body, self._headers)
        except RequestFailed as failed:
            raise classify_failure(failed.error, body_sent=failed.body_sent, secrets=(self._api_key,)) from None
        outcome = classify_response(
            answer.status, answer.headers, answer.body, now=time.time(), secrets=(self._api_key,)
        )
        if isinstance(outcome, SendError):
            raise outcome
        return outcome

    #: Recipients per request in bulk sending (see docs/bulk.md).
    max_batch_size = 1000

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Bulk sending: one request for up to 1,000 personalized recipients (personalizations)."""
        from mailcore_sendgrid.bulk import send_batch

        return send_batch(self, batch)

    def close(self) -> None:
        self._pool.close()

    # -- diagnostics -----------------------------------------------------------------------

    def check(self) -> Iterator[CheckStep]:
        """DNS, TCP, TLS to the API host, then ``GET /v3/scopes`` must list ``mail.send``."""
        pool = self._pool
        reachable = yield from network_steps(pool.host, pool.port, ssl_context=pool.ssl_context, timeout=self.timeout)
        if reachable:
            yield self._check_credentials()

    def _check_credentials(self) -> CheckStep:
        started = time.perf_counter()
        headers = {k: v for k, v in self._headers.items() if k != "Content-Type"}
        try:
            answer = self._pool.request("GET", SCOPES_PATH, None, headers)
        except RequestFailed as failed:
            error = classify_failure(failed.error, body_sent=failed.body_sent, secrets=(self._api_key,))
            return CheckStep("credentials", False, str(error), time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            detail = mask_secrets(f"GET {SCOPES_PATH} answered {answer.status}", (self._api_key,))
            hint = "the API key is wrong or revoked" if answer.status in (401, 403) else None
            return CheckStep("credentials", False, detail, elapsed, hint)
        try:
            scopes = json.loads(answer.body or b"{}").get("scopes", [])
        except (ValueError, AttributeError, RecursionError):
            scopes = []
        if "mail.send" not in scopes:
            hint = "give the API key the Mail Send permission"
            return CheckStep("credentials", False, "API key accepted but lacks the mail.send scope", elapsed, hint)
        return CheckStep("credentials", True, f"API key accepted; mail.send among {len(scopes)} scopes", elapsed)
