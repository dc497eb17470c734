"""Build one composed transport from URLs, parsed URL trees or transport objects."""

from __future__ import annotations

from collections.abc import Sequence

from mailcore.config import Composite, Node, TransportURL, parse
from mailcore.errors import ConfigurationError
from mailcore.registry import TransportRegistry
from mailcore.transport import Transport

STRATEGIES = ("failover",)


def build(
    spec: str | Node | Transport | Sequence[str | Node | Transport],
    *,
    strategy: str = "failover",
    registry: TransportRegistry | None = None,
) -> Transport:
    """Compose ``spec`` into one transport; several items are combined with ``strategy``."""
    if registry is None:
        from mailcore.plugins import get_registry

        registry = get_registry()
    items = [spec] if isinstance(spec, str | TransportURL | Composite | Transport) else list(spec)
    if not items:
        raise ConfigurationError("no transport given; pass a URL such as smtp://user:pass@host:587")
    transports = [_build_item(item, registry) for item in items]
    if len(transports) == 1:
        return transports[0]
    return _combine(strategy, transports)


def _build_item(item: str | Node | Transport, registry: TransportRegistry) -> Transport:
    if isinstance(item, Transport):
        return item
    if isinstance(item, str):
        item = parse(item)
    if isinstance(item, TransportURL):
        return registry.create(item.without("weight", "rate"))
    return _combine(item.kind, [_build_item(child, registry) for child in item.children])


def _combine(kind: str, transports: list[Transport]) -> Transport:
    from mailcore.policy.failover import Failover

    if kind in ("failover", "roundrobin", "weighted"):
        return Failover(transports)
    raise ConfigurationError(f"unknown strategy {kind!r}; choose one of {', '.join(STRATEGIES)}")
