"""The shape every plugin registry shares: name → spec, filled by a plugin hook, loaded lazily.

The transport, queue (:mod:`mailcore.registry`) and webhook (:mod:`mailcore.webhooks.registry`)
registries map a lower-cased name to a spec whose factory is a callable or a
``"package.module:attr.attr"`` string imported on first use, so a plugin's entry module stays
cheap. What differs between them (the spec's fields and the wording of their errors) stays in
each; the import, the "registered twice" refusal and the sorted listing live here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from mailcore.errors import ConfigurationError

__all__ = ["LazyRegistry", "import_object", "load_callable"]


class _Spec(Protocol):
    plugin: str


S = TypeVar("S", bound=_Spec)


def import_object(path: str) -> object:
    """The object a ``"package.module:attr.attr"`` path names; raises the :class:`ImportError`
    or :class:`AttributeError` that stops it."""
    module_name, _, attr_path = path.partition(":")
    target: object = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    return target


def load_callable(
    path: str, broken: Callable[[ImportError | AttributeError], ConfigurationError], not_callable: str
) -> Any:
    """Import the callable at ``path``: a failed import is ``broken(error)``, a target that is
    not callable a :class:`ConfigurationError` saying ``not_callable`` (both name the plugin)."""
    try:
        target = import_object(path)
    except (ImportError, AttributeError) as error:
        raise broken(error) from None
    if not callable(target):
        raise ConfigurationError(not_callable)
    return target


class LazyRegistry(Generic[S]):
    """Lower-cased name → spec, with the plugin being registered in :attr:`current_plugin`.

    A name registered by two plugins is refused with a :class:`ConfigurationError` that says
    how to resolve it (re-registering from the same plugin replaces the spec).
    """

    #: What a name is called in the "registered by both" error ("scheme", "webhook"…).
    kind: ClassVar[str] = "name"

    def __init__(self) -> None:
        self._specs: dict[str, S] = {}
        #: the plugin whose hook is running (specs record it; ``mailcore.plugins`` sets it)
        self.current_plugin = "mailcore"

    def _register(self, name: str, make: Callable[[str], S]) -> None:
        """Store ``make(name)`` under the lower-cased ``name`` unless another plugin has it."""
        name = name.lower()
        existing = self._specs.get(name)
        if existing is not None and existing.plugin != self.current_plugin:
            raise ConfigurationError(
                f"{self.kind} {name!r} is registered by both {existing.plugin!r} and {self.current_plugin!r}; "
                "uninstall one, or hide it with MAILCORE_DISABLE_PLUGINS"
            )
        self._specs[name] = make(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._specs)

    def specs(self) -> list[S]:
        """Every spec, in the order of :meth:`names`."""
        return [self._specs[name] for name in self.names()]

    def _find(self, name: str) -> S | None:
        return self._specs.get(name.lower())
