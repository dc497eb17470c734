"""Entry module of mailcore-mailgun: registers ``mailgun://``; imports nothing heavy."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry

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
