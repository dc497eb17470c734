"""The SES transport: one boto3 ``sesv2`` client per transport, one HTTP request per attempt.

``ses://?region=eu-west-1`` uses the boto3 credential chain (environment, shared files, SSO,
instance roles); ``ses://KEY:SECRET@?region=…`` gives the keys in the URL (percent-encode
``/`` and ``+`` in the secret). Parameters: ``region``, ``endpoint_url`` (tests, VPC
endpoints), ``timeout`` (seconds of wall clock for a whole attempt: connect, TLS, request and
answer), ``configuration_set``, ``ignore_unsupported``, ``cafile``.

The client is created lazily under a lock, so building a transport never touches the network
and many threads can share it (botocore clients are thread-safe). botocore's own retries are
off (``total_max_attempts=1``): retries belong to mailcore's policy. botocore signs and parses;
the HTTP exchange itself goes through mailcore's shared client (:mod:`mailcore_ses.sender`), so
an attempt ends on time however slowly the endpoint answers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from mailcore.budget import positive_seconds
from mailcore.bulk.model import Batch, RecipientResult
from mailcore.capabilities import coerce_capabilities
from mailcore.config import TransportURL, mask_endpoint
from mailcore.errors import ConfigurationError, MailcoreError
from mailcore.http import CONNECT_TIMEOUT
from mailcore.message import Message
from mailcore.redact import MASK, Secret
from mailcore.result import Delivery
from mailcore.transport import CheckStep, ProviderTransport
from mailcore.validate import INSECURE_HTTP_PARAM, check_endpoint_url
from mailcore_ses.direct import DirectSendEmail
from mailcore_ses.errors import classify_exception, delivery_from_response
from mailcore_ses.payload import PROVIDER_KEY, SesOptions, build_send_email
from mailcore_ses.plugin import CAPABILITIES
from mailcore_ses.sender import PooledSender

#: boto3 builds client classes at run time; the ``sesv2`` client is typed loosely here.
SESV2Client = Any

__all__ = ["DEFAULT_TIMEOUT", "SesTransport"]

#: Seconds of wall clock per attempt when the URL gives no ``timeout``.
DEFAULT_TIMEOUT = 30.0
#: Keep-alive connections kept per transport (botocore's default of 10 is below common
#: ``send_many(concurrency=…)`` values; extra threads would open and discard connections).
MAX_POOL_CONNECTIONS = 32
URL_PARAMS = (
    "region", "endpoint_url", "timeout", "configuration_set", "ignore_unsupported", "cafile", INSECURE_HTTP_PARAM
)  # fmt: skip


class SesTransport(ProviderTransport):
    """Send through Amazon SES API v2 (``SendEmail``)."""

    capabilities = coerce_capabilities(CAPABILITIES, "ses")

    def __init__(
        self,
        *,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | Secret | None = None,
        endpoint_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        configuration_set: str | None = None,
        ignore_unsupported: bool = False,
        cafile: str | None = None,
        insecure_http: bool = False,
    ) -> None:
        if isinstance(secret_access_key, str):
            secret_access_key = Secret(secret_access_key)
        if bool(access_key_id) != bool(secret_access_key):
            raise ConfigurationError("ses:// needs both the access key id and the secret (ses://KEY:SECRET@?region=…)")
        if endpoint_url is not None:
            check_endpoint_url("ses", endpoint_url, insecure_http=insecure_http)
        timeout = positive_seconds(timeout, "timeout", "ses://")
        self.region = region
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self.cafile = cafile
        self.options = SesOptions(configuration_set=configuration_set, ignore_unsupported=ignore_unsupported)
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: SESV2Client | None = None
        self._credentials: Any = None
        self._direct: DirectSendEmail | None = None
        self._sender = PooledSender(timeout=timeout, cafile=cafile)
        self.connect_timeout = min(timeout, CONNECT_TIMEOUT)
        self._lock = threading.Lock()
        self.name = self._display_name()

    @classmethod
    def from_url(cls, url: TransportURL) -> SesTransport:
        """Build from ``ses://[KEY:SECRET@]?region=…&…``; unknown parameters are an error."""
        url.check_no_host("use ses://?region=… or ?endpoint_url=…, and percent-encode '+' (%2B) in a secret")
        url.check_params(URL_PARAMS)
        return cls(
            region=url.get("region"),
            access_key_id=url.username,
            secret_access_key=url.password,
            endpoint_url=url.get("endpoint_url"),
            timeout=_timeout(url),
            configuration_set=url.get("configuration_set"),
            ignore_unsupported=url.get_bool("ignore_unsupported"),
            insecure_http=url.get_bool(INSECURE_HTTP_PARAM),
            cafile=url.get("cafile"),
        )

    def _display_name(self) -> str:
        userinfo = f"{MASK}:{MASK}@" if self._access_key_id else ""
        params = [
            ("region", self.region),
            ("endpoint_url", mask_endpoint(self.endpoint_url) if self.endpoint_url else None),
            ("configuration_set", self.options.configuration_set),
        ]
        query = "&".join(f"{k}={quote(v, safe='/:')}" for k, v in params if v)
        return f"ses://{userinfo}" + (f"?{query}" if query else "")

    # -- client ----------------------------------------------------------------------------

    def client(self) -> SESV2Client:
        """The boto3 ``sesv2`` client, created on first use (thread-safe)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._create_client()
                client = self._client
        return client

    def _create_client(self) -> SESV2Client:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as error:  # pragma: no cover - boto3 is a dependency
            raise ConfigurationError(f"ses:// needs boto3 ({error}); pip install steadymail-ses") from None
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            max_pool_connections=MAX_POOL_CONNECTIONS,
            user_agent_extra="mailcore-ses",
        )
        try:
            session = boto3.session.Session(
                botocore_session=_botocore_session(),
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key.reveal() if self._secret_access_key else None,
                region_name=self.region,
            )
            client = session.client("sesv2", endpoint_url=self.endpoint_url, config=config, verify=self.cafile)
            self._credentials = session.get_credentials()
        except BotoCoreError as error:
            raise ConfigurationError(f"{self.name}: {classify_exception(error, self.secrets())}") from None
        client.meta.events.register("before-send.sesv2", self._sender)
        return client

    def _direct_sender(self) -> DirectSendEmail | None:
        """The fast ``SendEmail`` path (:mod:`mailcore_ses.direct`), once the client resolved the
        region, endpoint and credentials; ``None`` when botocore knows no region to sign for."""
        direct = self._direct
        if direct is None:
            client = self.client()
            region = client.meta.region_name
            if not region:
                return None
            with self._lock:
                if self._direct is None:
                    self._direct = DirectSendEmail(
                        endpoint_url=client.meta.endpoint_url,
                        credentials=self._credentials,
                        region=region,
                        service=client.meta.service_model.signing_name or "ses",
                        pool=self._sender.pool,
                        secrets=self.secrets(),
                    )
                direct = self._direct
        return direct

    def secrets(self) -> tuple[str | Secret | None, ...]:
        """Everything that must never appear in an error text."""
        return (self._access_key_id, self._secret_access_key)

    def open(self) -> None:
        self.client()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._direct = None
        if client is not None:
            client.close()
        self._sender.close()

    # -- sending ---------------------------------------------------------------------------

    def deliver(self, message: Message) -> Delivery:
        request = build_send_email(message, self.options)
        try:
            # passthrough options go through botocore, which validates them; the rest is ours
            direct = None if message.provider_options.get(PROVIDER_KEY) else self._direct_sender()
            if direct is not None:
                return direct.send(request)
            response = self.client().send_email(**request)
        except MailcoreError:  # already classified by the direct path
            raise
        except Exception as raised:  # botocore raises many unrelated types; classify them all
            error = classify_exception(raised, self.secrets())
            if isinstance(error, ConfigurationError):  # not a SendError: name the transport here
                raise ConfigurationError(f"{self.name}: {error}") from None
            raise error from None
        return delivery_from_response(response)

    #: Destinations per ``SendBulkEmail`` request in bulk sending (see docs/bulk.md).
    max_batch_size = 50

    def accepts_batch(self, message: Message) -> bool:
        """``SendBulkEmail`` needs an SES template; other bulk sends go one message each."""
        return message.template_id is not None

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Bulk sending: one ``SendBulkEmail`` for up to 50 templated destinations."""
        from mailcore_ses.bulk import send_batch

        return send_batch(self, batch)

    # -- diagnosis -------------------------------------------------------------------------

    def check(self, from_email: str | None = None) -> Iterator[CheckStep]:
        """Endpoint, DNS, TCP, TLS, credentials (read-only GetAccount) and, when a sender is
        known (``from_email`` or ``$MAILCORE_FROM``), whether its identity is verified."""
        from mailcore_ses.checks import run_checks

        yield from run_checks(self, from_email or os.environ.get("MAILCORE_FROM") or None)


_loader_lock = threading.Lock()
_shared_loader: Any = None


def _botocore_session() -> Any:
    """A new botocore session whose model loader is shared by every transport of the process.

    Loading the ``sesv2`` model and the endpoint rules takes ~150 ms per fresh session; with the
    loader (and its cache) shared, building another client takes ~20 ms. That matters when an
    application builds a Mailer per request (a Django backend per send, say).
    """
    import botocore.session

    global _shared_loader
    session = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _shared_loader)
    return session


def _timeout(url: TransportURL) -> float:
    return url.get_seconds("timeout", DEFAULT_TIMEOUT)
