"""The transport registry: URL scheme → lazily imported transport factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from mailcore.errors import ConfigurationError, UnknownTransport

if TYPE_CHECKING:
    from mailcore.config import TransportURL
    from mailcore.transport import Transport

__all__ = ["KNOWN_PLUGINS", "TransportFactory", "TransportRegistry", "TransportSpec"]

TransportFactory = Callable[["TransportURL"], "Transport"]

#: Schemes of mailcore's own plugins, and the install that adds each one.
KNOWN_PLUGINS = {
    "smtp": "mailcore[smtp]",
    "smtps": "mailcore[smtp]",
    "gmail": "mailcore[smtp]",
    "sendgrid": "mailcore[sendgrid]",
    "ses": "mailcore[ses]",
    "mailgun": "mailcore[mailgun]",
    "console": "mailcore[console]",
}


@dataclass
class TransportSpec:
    """One registered scheme: where its factory lives, which plugin registered it, and what its
    transport carries faithfully (``capabilities``, names of :class:`mailcore.capabilities.Capability`)."""

    scheme: str
    factory: Union[str, TransportFactory]  # noqa: UP007 - runtime alias with a string forward ref
    plugin: str
    description: str = ""
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def load(self) -> TransportFactory:
        """Import the factory (``"package.module:attr.attr"``) on first use."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr_path = self.factory.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for attr in attr_path.split("."):
                target = getattr(target, attr)
        except (ImportError, AttributeError) as error:
            raise ConfigurationError(
                f"the {self.scheme}:// transport of plugin {self.plugin!r} cannot be loaded "
                f"({type(error).__name__}: {error}); reinstall it, e.g. pip install "
                f"'{KNOWN_PLUGINS.get(self.scheme, self.plugin)}'"
            ) from None
        if not callable(target):
            raise ConfigurationError(f"{self.factory!r} registered for {self.scheme}:// is not callable")
        self.factory = target
        return target


class TransportRegistry:
    """Maps URL schemes to transport factories; filled by ``mailcore_register_transports``."""

    def __init__(self) -> None:
        self._specs: dict[str, TransportSpec] = {}
        self.current_plugin = "mailcore"

    def add(
        self,
        scheme: str,
        factory: str | TransportFactory,
        *,
        description: str = "",
        capabilities: Iterable[str] = (),
    ) -> None:
        """Register ``factory`` for ``scheme://`` URLs (called from a plugin's hook).

        ``capabilities`` repeats, as data, what the transport class declares (shown by
        ``mailcore plugins`` and docs/capabilities.md without importing the transport).
        """
        from mailcore.capabilities import coerce_capabilities
        from mailcore.errors import InvalidMessage

        try:
            caps = frozenset(c.value for c in coerce_capabilities(capabilities, f"{scheme}:// capabilities"))
        except InvalidMessage as error:
            raise ConfigurationError(f"plugin {self.current_plugin!r}: {error}") from None
        scheme = scheme.lower()
        existing = self._specs.get(scheme)
        if existing is not None and existing.plugin != self.current_plugin:
            raise ConfigurationError(
                f"scheme {scheme!r} is registered by both {existing.plugin!r} and {self.current_plugin!r}; "
                "uninstall one, or hide it with MAILCORE_DISABLE_PLUGINS"
            )
        self._specs[scheme] = TransportSpec(scheme, factory, self.current_plugin, description, caps)

    def schemes(self) -> list[str]:
        return sorted(self._specs)

    def specs(self) -> list[TransportSpec]:
        return [self._specs[s] for s in self.schemes()]

    def get(self, scheme: str) -> TransportSpec:
        spec = self._specs.get(scheme.lower())
        if spec is None:
            extra = KNOWN_PLUGINS.get(scheme.lower())
            hint = f"pip install '{extra}' adds it" if extra else "Is a plugin for it installed? See: mailcore plugins"
            raise UnknownTransport(scheme, self.schemes(), hint)
        return spec

    def create(self, url: TransportURL) -> Transport:
        """Build a transport for a parsed URL."""
        return self.get(url.scheme).load()(url)
