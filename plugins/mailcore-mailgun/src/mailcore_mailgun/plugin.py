"""Entry module of mailcore-mailgun: registers ``mailgun://``; imports nothing heavy."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry
from mailcore.webhooks.registry import WebhookRegistry

#: What the Mailgun transport carries faithfully (see docs/capabilities.md).
CAPABILITIES = frozenset(
    {"provider_template", "tags", "metadata", "inline_images", "custom_headers", "scheduled_send", "batch"}
)


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "mailgun",
        "mailcore_mailgun.transport:MailgunTransport.from_url",
        description="Mailgun Messages API (mailgun://API_KEY@your-domain.com?region=eu)",
        capabilities=CAPABILITIES,
    )


@hookimpl
def mailcore_register_webhooks(registry: WebhookRegistry) -> None:
    registry.add(
        "mailgun",
        "mailcore_mailgun.webhook:MailgunWebhook.from_settings",
        description="Mailgun webhooks, HMAC-signed with a one-time token (signing_key, max_age, replay)",
    )
