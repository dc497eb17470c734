"""Policies: transports that wrap transports (failover, balancing, retries, breakers, limits).

:func:`build` turns a parsed URL tree or a list of transports into one composed transport.
"""

from __future__ import annotations

from mailcore.policy.build import build
from mailcore.policy.failover import Failover

__all__ = ["Failover", "build"]
