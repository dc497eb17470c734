"""The Mailgun transport: ``mailgun://API_KEY@example.com?region=eu`` (host = sending domain).

One ``requests.Session`` per transport keeps connections alive across sends and threads; its
adapter never retries (``max_retries=0``), so each attempt is exactly one
``POST /v3/{domain}/messages``. ``requests`` is imported here, not in the entry module.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from mailcore.bulk.model import Batch, RecipientResult
from mailcore.checks import endpoint_steps
from mailcore.config import TransportURL, mask_endpoint
from mailcore.errors import ConfigurationError, SendError
from mailcore.http import api_base_url
from mailcore.message import Message
from mailcore.redact import MASK, Secret, mask_secrets
from mailcore.result import Delivery
from mailcore.transport import CheckStep, ProviderTransport
from mailcore_mailgun.errors import classify_failure, classify_response
from mailcore_mailgun.payload import MailgunForm, build_form

__all__ = ["ENV_API_KEY", "ENV_DOMAIN", "REGIONS", "MailgunTransport"]

ENV_API_KEY = "MAILGUN_API_KEY"
ENV_DOMAIN = "MAILGUN_DOMAIN"
REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
DEFAULT_TIMEOUT = 30.0
URL_PARAMS = ("region", "endpoint_url", "timeout", "cafile", "ignore_unsupported")


class MailgunTransport(ProviderTransport):
    """Deliver through Mailgun's Messages API; safe to share across threads."""

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
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(ENV_API_KEY) or None
        if not api_key:
            raise ConfigurationError(f"mailgun:// needs an API key: mailgun://API_KEY@your-domain or ${ENV_API_KEY}")
        domain = domain or os.environ.get(ENV_DOMAIN) or None
        if not domain:
            raise ConfigurationError("mailgun:// needs the sending domain as host: mailgun://API_KEY@mg.example.com")
        if timeout <= 0:
            raise ConfigurationError("mailgun:// timeout must be positive")
        base_url = api_base_url("mailgun", region=region, regions=REGIONS, endpoint_url=endpoint_url)
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self.domain = domain
        self.region = region
        self.endpoint_url = base_url
        self.timeout = timeout
        self.cafile = cafile
        self.ignore_unsupported = ignore_unsupported
        # Passed per request (see post_form): a session-level verify loses to $REQUESTS_CA_BUNDLE.
        self._verify: str | bool = cafile or True
        self._messages_url = f"{base_url}/v3/{quote(domain, safe='')}/messages"
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
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
            timeout=url.get_float("timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
            cafile=url.get("cafile"),
            ignore_unsupported=url.get_bool("ignore_unsupported"),
        )

    # -- sending ---------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The shared session, created on first use (requests sessions are safe to share for sends)."""
        with self._session_lock:
            return self._session or self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=32, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.auth = ("api", self._api_key.reveal())
        session.headers["User-Agent"] = "mailcore-mailgun/0.1"
        self._session = session
        return session

    def open(self) -> None:
        self.session  # noqa: B018 - build the session (and its pool) before a batch

    def deliver(self, message: Message) -> Delivery:
        return self.post_form(build_form(message, ignore_unsupported=self.ignore_unsupported))

    def post_form(self, form: MailgunForm) -> Delivery:
        """POST ``form`` to the messages endpoint: exactly one request, classified.

        ``verify`` goes with each request: a session-level one would lose to
        ``$REQUESTS_CA_BUNDLE``. The body is streamed and read separately, so a 2xx whose body
        breaks off is still a success (id unknown), never a timeout that invites a resend.
        """
        multipart: list[Any] = [(name, (None, value)) for name, value in form.fields] + list(form.files)
        try:
            response = self.session.post(
                self._messages_url,
                files=multipart,
                timeout=(min(self.timeout, 10.0), self.timeout),
                verify=self._verify,
                stream=True,
            )
        except requests.RequestException as error:
            cause, body_sent = _failure_stage(error)
            raise classify_failure(cause, body_sent=body_sent, secrets=(self._api_key,)) from None
        with response:
            body = _body(response)
        headers = {name.lower(): value for name, value in response.headers.items()}
        outcome = classify_response(response.status_code, headers, body, now=time.time(), secrets=(self._api_key,))
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
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    # -- diagnostics -----------------------------------------------------------------------

    def check(self) -> Iterator[CheckStep]:
        """DNS, TCP, TLS to the API host, then ``GET /v3/domains/{domain}`` with the key."""
        reachable = yield from endpoint_steps(self.endpoint_url, cafile=self.cafile, timeout=self.timeout)
        if reachable:
            yield self._check_credentials()

    def _check_credentials(self) -> CheckStep:
        url = f"{self.endpoint_url}/v3/domains/{quote(self.domain, safe='')}"
        started = time.perf_counter()
        try:
            response = self.session.get(url, timeout=self.timeout, verify=self._verify)
        except requests.RequestException as error:
            cause, body_sent = _failure_stage(error)
            failure = classify_failure(cause, body_sent=body_sent, secrets=(self._api_key,))
            return CheckStep("credentials", False, str(failure), time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        status = response.status_code
        if status == 200:
            try:
                state = json.loads(response.content)["domain"].get("state", "unknown")
            except (ValueError, KeyError, TypeError, AttributeError):
                state = "unknown"
            ok = state in ("active", "unknown")
            hint = None if ok else "finish the domain's DNS verification in Mailgun"
            return CheckStep("credentials", ok, f"API key accepted; domain {self.domain} is {state}", elapsed, hint)
        hints = {
            401: "the API key is wrong or revoked",
            403: "the API key is wrong or may not read this domain",
            404: f"no domain {self.domain} in this region; an EU domain needs region=eu",
        }
        detail = mask_secrets(f"GET /v3/domains/{self.domain} answered {status}", (self._api_key,))
        return CheckStep("credentials", False, detail, elapsed, hints.get(status))


def _body(response: requests.Response) -> bytes | None:
    """The answer's body, or ``None`` when it broke off (the status line already arrived)."""
    try:
        return response.content
    except (requests.RequestException, OSError):
        return None


def _failure_stage(error: requests.RequestException) -> tuple[BaseException, bool]:
    """The root cause of a failed request, and whether the request may have reached Mailgun."""
    cause = _root_cause(error)
    if isinstance(error, requests.ConnectTimeout):
        return TimeoutError(str(cause)), False
    if isinstance(error, requests.ReadTimeout):
        return TimeoutError(str(cause)), True
    if isinstance(error, requests.exceptions.SSLError):
        return cause, False
    if isinstance(error, requests.ConnectionError):
        if isinstance(cause, http.client.RemoteDisconnected | ConnectionResetError):
            return cause, True  # the request went out; the answer never came
        return cause, False  # refused, DNS, unreachable, broken pipe while writing
    return cause, True


def _root_cause(error: BaseException) -> BaseException:
    """Walk requests/urllib3 wrappers down to the socket-level error."""
    seen = {id(error)}
    current = error
    while True:
        nested = next((a for a in getattr(current, "args", ()) if isinstance(a, BaseException)), None)
        nested = nested or getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(nested, BaseException) or id(nested) in seen:
            return current
        seen.add(id(nested))
        current = nested
