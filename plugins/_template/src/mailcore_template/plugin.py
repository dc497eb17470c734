"""Entry module: registers the scheme. Keep it free of heavy imports (no SDK, no HTTP client)."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add("template", "mailcore_template.transport:TemplateTransport.from_url", description="<provider>")
