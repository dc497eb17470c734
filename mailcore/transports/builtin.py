"""Core's own plugin: registers the ``memory`` transport through the same hook as any plugin."""

from __future__ import annotations

from mailcore.capabilities import Capability
from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "memory",
        "mailcore.transports.memory:MemoryTransport.from_url",
        description="keeps messages in a list (tests)",
        capabilities=[c.value for c in Capability],
    )
