"""The plugin manager: loads plugins from the ``mailcore`` entry-point group on first use.

Nothing happens at import time. :func:`get_plugin_manager` builds the manager once per process
(``reset()`` forgets it, for tests), honouring ``MAILCORE_DISABLE_PLUGINS``: a comma-separated
list of entry-point names to skip, or ``*`` to load no installed plugin at all (core's own
``memory`` transport stays).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from mailcore import hookspecs
from mailcore.redact import install_log_filter
from mailcore.registry import QueueRegistry, TransportRegistry
from mailcore.webhooks.registry import WebhookRegistry

__all__ = [
    "PluginInfo",
    "get_plugin_manager",
    "get_queue_registry",
    "get_registry",
    "get_webhook_registry",
    "hookimpl",
    "list_plugins",
    "reset",
]

ENTRY_POINT_GROUP = "mailcore"
DISABLE_ENV = "MAILCORE_DISABLE_PLUGINS"
hookimpl = pluggy.HookimplMarker("mailcore")
log = install_log_filter(logging.getLogger("mailcore"))

_lock = threading.Lock()
_state: dict[str, Any] = {}


@dataclass
class PluginInfo:
    """An installed plugin as ``mailcore plugins`` shows it."""

    name: str
    distribution: str
    version: str
    schemes: list[str] = field(default_factory=list)
    #: scheme → what its transport carries faithfully (capability names, sorted)
    capabilities: dict[str, list[str]] = field(default_factory=dict)


def _disabled() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _build() -> tuple[pluggy.PluginManager, TransportRegistry, WebhookRegistry, QueueRegistry]:
    from mailcore.transports import builtin

    pm = pluggy.PluginManager("mailcore")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="mailcore")
    disabled = _disabled()
    if "*" not in disabled:
        for name in disabled:
            pm.set_blocked(name)
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    registry = TransportRegistry()
    for impl in reversed(pm.hook.mailcore_register_transports.get_hookimpls()):
        registry.current_plugin = pm.get_name(impl.plugin) or impl.plugin_name
        impl.function(registry=registry)
    registry.current_plugin = "mailcore"
    webhooks = WebhookRegistry()
    for impl in reversed(pm.hook.mailcore_register_webhooks.get_hookimpls()):
        webhooks.current_plugin = pm.get_name(impl.plugin) or impl.plugin_name
        impl.function(registry=webhooks)
    webhooks.current_plugin = "mailcore"
    queues = QueueRegistry()
    for impl in reversed(pm.hook.mailcore_register_queues.get_hookimpls()):
        queues.current_plugin = pm.get_name(impl.plugin) or impl.plugin_name
        impl.function(registry=queues)
    queues.current_plugin = "mailcore"
    return pm, registry, webhooks, queues


def _ensure() -> tuple[pluggy.PluginManager, TransportRegistry]:
    with _lock:
        if "pm" not in _state:
            _state["pm"], _state["registry"], _state["webhooks"], _state["queues"] = _build()
        return _state["pm"], _state["registry"]


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first call."""
    return _ensure()[0]


def get_registry() -> TransportRegistry:
    """The transport registry filled by every loaded plugin."""
    return _ensure()[1]


def get_webhook_registry() -> WebhookRegistry:
    """The webhook verifier registry filled by every loaded plugin."""
    _ensure()
    webhooks: WebhookRegistry = _state["webhooks"]
    return webhooks


def get_queue_registry() -> QueueRegistry:
    """The queue backend registry (``sqlite``, ``celery``, ``postgresql``, ``django`` and plugins')."""
    _ensure()
    queues: QueueRegistry = _state["queues"]
    return queues


def reset() -> None:
    """Forget the plugin manager, so the next call reloads plugins (tests, after pip install)."""
    with _lock:
        _state.clear()


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin with its distribution, version and schemes."""
    pm, registry = _ensure()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos: list[PluginInfo] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            info = PluginInfo(name, dist.metadata["Name"], dist.version)
        else:
            info = PluginInfo(name, "steadymail", _version("steadymail"))
        specs = [spec for spec in registry.specs() if spec.plugin == name]
        info.schemes = [spec.scheme for spec in specs]
        info.capabilities = {spec.scheme: sorted(spec.capabilities) for spec in specs}
        infos.append(info)
    return sorted(infos, key=lambda i: i.name)


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def notify(hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook; an observer that raises is logged and never breaks the send."""
    pm = get_plugin_manager()
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():
        try:
            impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        except Exception:
            log.exception("observer %s.%s raised; the send is not affected", impl.plugin_name, hook_name)


def has_observers(hook_name: str) -> bool:
    """True when any plugin implements ``hook_name`` (skips building arguments otherwise)."""
    return bool(getattr(get_plugin_manager().hook, hook_name).get_hookimpls())
