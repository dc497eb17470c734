"""The transport: one ``deliver`` call is one request, never retried here (the policy retries).

Time budget (docs/policies.md): ``timeout`` bounds one whole attempt by the wall clock, and the
message deadline of the policy may cut it shorter. ``attempt_seconds(self.timeout)`` returns
``min(timeout, time left)`` (it raises ``SendTimeout`` when no time is left); never wait longer
than that in total. An HTTP API can simply use ``mailcore.http.ConnectionPool``, which does it
for every request.
"""

from __future__ import annotations

from mailcore.budget import attempt_seconds, positive_seconds
from mailcore.capabilities import coerce_capabilities
from mailcore.config import TransportURL
from mailcore.message import Message
from mailcore.redact import Secret
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport
from mailcore_template.errors import classify
from mailcore_template.payload import build_payload
from mailcore_template.plugin import CAPABILITIES


class TemplateTransport(ProviderTransport):
    """Sends through <provider>. Replace ``_post`` with the provider's client call."""

    capabilities = coerce_capabilities(CAPABILITIES, "template")  # the same data the plugin registers

    def __init__(self, api_key: str, *, timeout: float = 10.0) -> None:
        self._api_key = Secret(api_key)  # never printed
        self.timeout = positive_seconds(timeout, "timeout", "template://")  # nan/inf/0 refused
        self.name = "template://***@"
        self.requests: list[dict[str, object]] = []

    @classmethod
    def from_url(cls, url: TransportURL) -> TemplateTransport:
        url.check_params({"timeout"})
        return cls(url.username or "", timeout=url.get_seconds("timeout", 10.0))

    def deliver(self, message: Message) -> Delivery:
        payload = build_payload(message)  # InvalidMessage before any I/O
        seconds = attempt_seconds(self.timeout)  # this attempt's whole budget
        status, text, provider_id = self._post(payload, seconds)
        error = classify(status, text)
        if error is not None:
            raise error
        return Delivery(provider_message_id=provider_id)

    def _post(self, payload: dict[str, object], seconds: float) -> tuple[int, str, str | None]:
        self.requests.append(payload)  # stands in for the provider's API call, bounded by ``seconds``
        return 202, "accepted", f"template-{len(self.requests)}"


def validate_url(url: TransportURL) -> None:
    """Check ``url``'s parameters as :meth:`TemplateTransport.from_url` reads them, opening nothing."""
    url.check_params({"timeout"})
    url.get_float("timeout")
