"""Entry module: registers the scheme. Keep it free of heavy imports (no SDK, no HTTP client)."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "template",
        "mailcore_template.transport:TemplateTransport.from_url",
        description="<provider>",
        # Optional: checks a URL without I/O for `manage.py check` and `mailcore check`. Without
        # it the registry builds the transport and closes it, so keep __init__ free of I/O.
        validate="mailcore_template.transport:validate_url",
    )
