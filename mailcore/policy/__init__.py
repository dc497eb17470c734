"""Policies: transports that wrap transports (failover, balancing, retries, breakers, limits).

:func:`build` turns a URL, a composite expression (``failover(a roundrobin(b c))``) or a list of
transports into one composed transport; ``Mailer`` calls it. Each piece also works alone::

    Failover([CircuitBreaker(Retrying(ses)), CircuitBreaker(Retrying(smtp))])

See docs/policies.md for the decision table and recipes. Names are imported on first use, so
``import mailcore`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailcore.policy.balance import RoundRobin, Weighted
    from mailcore.policy.base import Policy
    from mailcore.policy.breaker import BreakerPolicy, CircuitBreaker
    from mailcore.policy.build import STRATEGIES, build
    from mailcore.policy.decisions import Action, Verdict, breaker_verdict, decide
    from mailcore.policy.errors import CircuitOpen, LimitReached, RouteSkipped
    from mailcore.policy.failover import Combinator, Failover
    from mailcore.policy.ratelimit import RateLimit, parse_rate
    from mailcore.policy.retry import Retrying, RetryPolicy
    from mailcore.policy.state import BreakerState, MemoryStore, RedisStore, StateStore, open_state
    from mailcore.policy.suppress import Suppressing, SuppressionPolicy

_HOMES = {
    "RoundRobin": "balance",
    "Weighted": "balance",
    "Policy": "base",
    "BreakerPolicy": "breaker",
    "CircuitBreaker": "breaker",
    "STRATEGIES": "build",
    "build": "build",
    "Action": "decisions",
    "Verdict": "decisions",
    "breaker_verdict": "decisions",
    "decide": "decisions",
    "CircuitOpen": "errors",
    "LimitReached": "errors",
    "RouteSkipped": "errors",
    "Combinator": "failover",
    "Failover": "failover",
    "RateLimit": "ratelimit",
    "parse_rate": "ratelimit",
    "RetryPolicy": "retry",
    "Retrying": "retry",
    "BreakerState": "state",
    "MemoryStore": "state",
    "RedisStore": "state",
    "StateStore": "state",
    "open_state": "state",
    "Suppressing": "suppress",
    "SuppressionPolicy": "suppress",
}

__all__ = [
    "STRATEGIES",
    "Action",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Combinator",
    "Failover",
    "LimitReached",
    "MemoryStore",
    "Policy",
    "RateLimit",
    "RedisStore",
    "RetryPolicy",
    "Retrying",
    "RoundRobin",
    "RouteSkipped",
    "StateStore",
    "Suppressing",
    "SuppressionPolicy",
    "Verdict",
    "Weighted",
    "breaker_verdict",
    "build",
    "decide",
    "open_state",
    "parse_rate",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mailcore.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mailcore.policy.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
