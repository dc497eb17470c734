"""Entry module of mailcore-ses: registers ``ses://``; imports nothing heavy (no boto3)."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry
from mailcore.webhooks.registry import WebhookRegistry

#: What the SES transport carries faithfully (see docs/capabilities.md). A calendar part travels
#: in the raw MIME message, so only without a provider template. The envelope sender becomes
#: ``FeedbackForwardingEmailAddress``: SES keeps MAIL FROM but forwards bounces and complaints there.
CAPABILITIES = frozenset(
    {"provider_template", "tags", "metadata", "inline_images", "custom_headers", "batch", "calendar", "envelope_sender"}
)


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "ses",
        "mailcore_ses.transport:SesTransport.from_url",
        description="Amazon SES API v2 through boto3 (ses://?region=eu-west-1)",
        capabilities=CAPABILITIES,
    )


@hookimpl
def mailcore_register_webhooks(registry: WebhookRegistry) -> None:
    registry.add(
        "ses",
        "mailcore_ses.webhook:SesSnsWebhook.from_settings",
        description="SES event publishing through SNS, signature-verified (topics, confirm_subscriptions, max_age)",
    )
