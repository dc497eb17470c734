"""Entry module of mailcore-sendgrid: registers ``sendgrid://``; imports nothing heavy."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry
from mailcore.webhooks.registry import WebhookRegistry

#: What the SendGrid transport carries faithfully (see docs/capabilities.md).
CAPABILITIES = frozenset(
    {
        "provider_template",
        "tags",
        "metadata",
        "inline_images",
        "custom_headers",
        "scheduled_send",
        "batch",
        "calendar",
    }
)


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "sendgrid",
        "mailcore_sendgrid.transport:SendGridTransport.from_url",
        description="SendGrid v3 Mail Send API (sendgrid://API_KEY@?region=eu)",
        capabilities=CAPABILITIES,
    )


@hookimpl
def mailcore_register_webhooks(registry: WebhookRegistry) -> None:
    registry.add(
        "sendgrid",
        "mailcore_sendgrid.webhook:SendGridWebhook.from_settings",
        description="SendGrid Event Webhook, ECDSA-signed (public_key, max_age)",
    )
