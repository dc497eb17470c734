"""Receiving provider webhooks: verification helpers, the verifier registry and a WSGI receiver.

* :mod:`mailcore.webhooks.verify` — shared checks every verifier uses (headers, the timestamp
  window, one-time-token replay caches).
* :mod:`mailcore.webhooks.registry` — provider name → verifier factory, filled by plugins through
  the ``mailcore_register_webhooks`` hook (vendor knowledge stays in its plugin).
* :mod:`mailcore.webhooks.app` — a framework-neutral WSGI app, one path per provider.
"""

from __future__ import annotations

from mailcore.webhooks.registry import WebhookRegistry, build_verifier, settings_from_env
from mailcore.webhooks.verify import MemoryReplayCache, RedisReplayCache, ReplayCache, check_fresh, get_header

__all__ = [
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "WebhookRegistry",
    "build_verifier",
    "check_fresh",
    "get_header",
    "settings_from_env",
]
