"""The transport: one ``deliver`` call is one request, never retried here (the policy retries)."""

from __future__ import annotations

from mailcore.config import TransportURL
from mailcore.message import Message
from mailcore.redact import Secret
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport
from mailcore_template.errors import classify
from mailcore_template.payload import build_payload


class TemplateTransport(ProviderTransport):
    """Sends through <provider>. Replace ``_post`` with the provider's client call."""

    def __init__(self, api_key: str, *, timeout: float = 10.0) -> None:
        self._api_key = Secret(api_key)  # never printed
        self.timeout = timeout
        self.name = "template://***@"
        self.requests: list[dict[str, object]] = []

    @classmethod
    def from_url(cls, url: TransportURL) -> TemplateTransport:
        url.check_params({"timeout"})
        return cls(url.username or "", timeout=url.get_float("timeout", 10.0) or 10.0)

    def deliver(self, message: Message) -> Delivery:
        payload = build_payload(message)  # InvalidMessage before any I/O
        status, text, provider_id = self._post(payload)
        error = classify(status, text)
        if error is not None:
            raise error
        return Delivery(provider_message_id=provider_id)

    def _post(self, payload: dict[str, object]) -> tuple[int, str, str | None]:
        self.requests.append(payload)  # stands in for the provider's API call
        return 202, "accepted", f"template-{len(self.requests)}"


def validate_url(url: TransportURL) -> None:
    """Check ``url``'s parameters as :meth:`TemplateTransport.from_url` reads them, opening nothing."""
    url.check_params({"timeout"})
    url.get_float("timeout")
