"""Entry module of mailcore-console: registers ``console://``; imports nothing heavy."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "console",
        "mailcore_console.transport:ConsoleTransport.from_url",
        description="prints the rendered message; delivers nothing (development)",
    )
