"""The Mailgun transport: ``mailgun://API_KEY@example.com?region=eu`` (host = sending domain).

Each attempt is exactly one ``POST /v3/{domain}/messages`` (``multipart/form-data`` built by the
pure :func:`~mailcore_mailgun.payload.encode_form`) over the shared keep-alive pool
:class:`mailcore.http.ConnectionPool`: never a retry, the whole attempt (connect, TLS, request,
answer) bounded by ``timeout`` seconds of wall clock and by the message deadline, the answer read
with a size cap. Once the request was written, an unreadable answer (a garbage status line, too
many headers, a cut connection) is "maybe sent", never a blind retry.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from urllib.parse import quote

from mailcore.budget import positive_seconds
from mailcore.bulk.model import Batch, RecipientResult
from mailcore.capabilities import coerce_capabilities
from mailcore.checks import endpoint_steps
from mailcore.config import TransportURL, mask_endpoint
from mailcore.errors import ConfigurationError, SendError
from mailcore.http import ConnectionPool, RequestFailed, api_base_url
from mailcore.message import Message
from mailcore.redact import MASK, Secret, mask_secrets
from mailcore.result import Delivery
from mailcore.tlscontext import client_context
from mailcore.transport import CheckStep, ProviderTransport
from mailcore.validate import INSECURE_HTTP_PARAM
from mailcore_mailgun.errors import classify_failure, classify_response
from mailcore_mailgun.payload import MailgunForm, build_form, encode_form
from mailcore_mailgun.plugin import CAPABILITIES

__all__ = ["ENV_API_KEY", "ENV_DOMAIN", "REGIONS", "MailgunTransport"]

ENV_API_KEY = "MAILGUN_API_KEY"
ENV_DOMAIN = "MAILGUN_DOMAIN"
REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
DEFAULT_TIMEOUT = 30.0
URL_PARAMS = ("region", "endpoint_url", "timeout", "cafile", "ignore_unsupported", INSECURE_HTTP_PARAM)


class MailgunTransport(ProviderTransport):
    """Deliver through Mailgun's Messages API; safe to share across threads."""

    capabilities = coerce_capabilities(CAPABILITIES, "mailgun")

    def __init__(
        self,
        api_key: str | Secret | None = None,
        domain: str | None = None,
        *,
        region: str = "us",
        endpoint_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cafile: str | None = None,
        ignore_unsupported: bool = False,
        insecure_http: bool = False,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(ENV_API_KEY) or None
        if not api_key:
            raise ConfigurationError(f"mailgun:// needs an API key: mailgun://API_KEY@your-domain or ${ENV_API_KEY}")
        domain = domain or os.environ.get(ENV_DOMAIN) or None
        if not domain:
            raise ConfigurationError("mailgun:// needs the sending domain as host: mailgun://API_KEY@mg.example.com")
        timeout = positive_seconds(timeout, "timeout", "mailgun://")
        base_url = api_base_url(
            "mailgun", region=region, regions=REGIONS, endpoint_url=endpoint_url, insecure_http=insecure_http
        )
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self.domain = domain
        self.region = region
        self.endpoint_url = base_url
        self.timeout = timeout
        self.cafile = cafile
        self.ignore_unsupported = ignore_unsupported
        # shared per process and trust files: building a transport does not reload the CA bundle
        context = client_context(cafile) if base_url.startswith("https") else None
        self._pool = ConnectionPool(base_url, timeout=timeout, ssl_context=context)
        self.connect_timeout = self._pool.connect_timeout
        self._messages_path = f"/v3/{quote(domain, safe='')}/messages"
        token = base64.b64encode(f"api:{self._api_key.reveal()}".encode()).decode("ascii")
        self._auth = Secret(token)
        self._headers = {"Authorization": f"Basic {token}", "User-Agent": "mailcore-mailgun/0.1"}
        query = (
            f"?endpoint_url={mask_endpoint(base_url)}"
            if endpoint_url
            else ("" if region == "us" else f"?region={region}")
        )
        self.name = f"mailgun://{MASK}@{domain}{query}"

    @classmethod
    def from_url(cls, url: TransportURL) -> MailgunTransport:
        """Build from ``mailgun://API_KEY@example.com?region=eu&timeout=10&endpoint_url=…&cafile=…``."""
        url.check_params(URL_PARAMS)
        api_key: str | Secret | None = url.password if url.password is not None else url.username
        return cls(
            api_key or None,
            url.host,
            region=url.get_choice("region", tuple(REGIONS), "us"),
            endpoint_url=url.get("endpoint_url"),
            timeout=url.get_seconds("timeout", DEFAULT_TIMEOUT),
            cafile=url.get("cafile"),
            ignore_unsupported=url.get_bool("ignore_unsupported"),
            insecure_http=url.get_bool(INSECURE_HTTP_PARAM),
        )

    # -- sending ---------------------------------------------------------------------------

    def _secrets(self) -> tuple[Secret, ...]:
        return (self._api_key, self._auth)

    def deliver(self, message: Message) -> Delivery:
        return self.post_form(build_form(message, ignore_unsupported=self.ignore_unsupported))

    def post_form(self, form: MailgunForm) -> Delivery:
        """POST ``form`` to the messages endpoint: exactly one request, classified.

        A 2xx whose body breaks off or is oversized is still a success (id unknown), never a
        timeout that invites a resend.
        """
        body, content_type = encode_form(form)
        try:
            answer = self._pool.request("POST", self._messages_path, body, self._headers, content_type=content_type)
        except RequestFailed as failed:
            raise classify_failure(failed.error, body_sent=failed.body_sent, secrets=self._secrets()) from None
        outcome = classify_response(
            answer.status, answer.headers, answer.body, now=time.time(), secrets=self._secrets()
        )
        if isinstance(outcome, SendError):
            outcome.transport = self.name
            raise outcome
        return outcome

    #: Recipients per request in bulk sending (see docs/bulk.md).
    max_batch_size = 1000

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Bulk sending: one request for up to 1,000 personalized recipients (recipient-variables)."""
        from mailcore_mailgun.bulk import send_batch

        return send_batch(self, batch)

    def close(self) -> None:
        self._pool.close()

    # -- diagnostics -----------------------------------------------------------------------

    def check(self) -> Iterator[CheckStep]:
        """DNS, TCP, TLS to the API host, then ``GET /v3/domains/{domain}`` with the key."""
        reachable = yield from endpoint_steps(self.endpoint_url, cafile=self.cafile, timeout=self.timeout)
        if reachable:
            yield self._check_credentials()

    def _check_credentials(self) -> CheckStep:
        path = f"/v3/domains/{quote(self.domain, safe='')}"
        started = time.perf_counter()
        try:
            answer = self._pool.request("GET", path, None, self._headers)
        except RequestFailed as failed:
            failure = classify_failure(failed.error, body_sent=failed.body_sent, secrets=self._secrets())
            return CheckStep("credentials", False, str(failure), time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        status = answer.status
        if status == 200:
            try:
                state = json.loads(answer.body or b"")["domain"].get("state", "unknown")
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                state = "unknown"
            ok = state in ("active", "unknown")
            hint = None if ok else "finish the domain's DNS verification in Mailgun"
            return CheckStep("credentials", ok, f"API key accepted; domain {self.domain} is {state}", elapsed, hint)
        hints = {
            401: "the API key is wrong or revoked",
            403: "the API key is wrong or may not read this domain",
            404: f"no domain {self.domain} in this region; an EU domain needs region=eu",
        }
        detail = mask_secrets(f"GET /v3/domains/{self.domain} answered {status}", self._secrets())
        return CheckStep("credentials", False, detail, elapsed, hints.get(status))
