"""Entry module of mailcore-console: registers ``console://``; imports nothing heavy."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry

#: What the console transport prints faithfully (tags and metadata as X-Mailcore-* headers).
CAPABILITIES = frozenset({"tags", "metadata", "inline_images", "custom_headers", "envelope_sender", "calendar"})


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "console",
        "mailcore_console.transport:ConsoleTransport.from_url",
        description="prints the rendered message; delivers nothing (development)",
        capabilities=CAPABILITIES,
    )
