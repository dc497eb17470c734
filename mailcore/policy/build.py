"""Build one composed transport from URLs, parsed URL trees or transport objects.

``Mailer(...)`` and ``Mailer.from_url(...)`` both end here, so a list with ``strategy=`` and a
composite URL build the same stack. Each leaf transport gets::

    CircuitBreaker(          when the stack has more than one transport
      Retrying(              unless retry=None
        RateLimit(           only with ?rate=N/s|m|h|d on the URL
          leaf)))

A lone transport gets ``Retrying(CircuitBreaker(RateLimit(leaf)))`` with a breaker that opens
only when the transport is rejected (credentials, TLS), so a wrong password is presented once,
not once per message.

and the leaves are combined by ``failover(...)``, ``roundrobin(...)`` or ``weighted(...)``
(nested as written). ``?weight`` and ``?rate`` are taken off a URL before its transport factory
sees it. A transport object that is already a policy is used as it is.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mailcore.config import Composite, Node, TransportURL, parse
from mailcore.errors import ConfigurationError
from mailcore.policy.balance import RoundRobin, Weighted
from mailcore.policy.base import Clock, Policy, Sleep
from mailcore.policy.breaker import BreakerPolicy, CircuitBreaker
from mailcore.policy.decisions import AMBIGUOUS_CHOICES
from mailcore.policy.failover import Combinator, Failover
from mailcore.policy.ratelimit import RateLimit, parse_rate
from mailcore.policy.retry import Retrying, RetryPolicy
from mailcore.policy.state import StateStore, open_state
from mailcore.policy.suppress import Suppressing, SuppressionPolicy
from mailcore.redact import Secret, conceal_traceback
from mailcore.registry import TransportRegistry
from mailcore.transport import Transport

__all__ = ["STRATEGIES", "build"]

STRATEGIES = ("failover", "roundrobin", "weighted")
POLICY_PARAMS = ("weight", "rate")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()

Item = str | Secret | Node | Transport


@dataclass(frozen=True)
class _Options:
    registry: TransportRegistry
    retry: RetryPolicy | None
    breaker: BreakerPolicy | None
    on_ambiguous: str
    store: StateStore
    clock: Clock
    wall_clock: Clock
    sleep: Sleep
    random: Callable[[], float]
    single: bool


@conceal_traceback
def build(
    spec: Item | Sequence[Item],
    *,
    strategy: str = "failover",
    registry: TransportRegistry | None = None,
    retry: RetryPolicy | Mapping[str, Any] | bool | None = DEFAULT,
    breaker: BreakerPolicy | Mapping[str, Any] | bool | None = DEFAULT,
    on_ambiguous: str = "fail",
    state: str | StateStore | None = None,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
    random: Callable[[], float] | None = None,
    suppression: Any = "env",
) -> Transport:
    """Compose ``spec`` into one transport; a list is combined with ``strategy``.

    :param retry: a :class:`RetryPolicy` (or a dict of its fields) for every leaf; ``None``
        for no retries. Default: ``RetryPolicy()`` (3 attempts, 0.5 s ×2 ≤ 30 s, deadline 30 s).
    :param breaker: a :class:`BreakerPolicy` (or dict); ``None`` for no breakers. Default:
        ``BreakerPolicy()`` (opens after 5 failures, 30 s cooldown). A lone transport's breaker
        opens only when the transport is rejected (credentials, TLS): with nowhere else to go,
        skipping it after ordinary failures would just turn a slow failure into a fast one, but
        a refused password must not be presented again for every message.
    :param on_ambiguous: ``"fail"`` (default) stops on a timeout after hand-over, outcome
        ``"unknown"``; ``"retry"`` retries and fails over anyway (duplicates possible).
    :param state: where breakers and limits live: a URL (``redis://…``, ``memory://NAME`` for a
        process-wide store), a store, or ``None`` (``MAILCORE_STATE_URL``, else a private
        in-memory store for this stack).
    :param clock: seconds, for deadlines, backoff and breakers (tests pass a fake clock);
        default ``time.monotonic`` for deadlines and ``time.time`` for breakers.
    :param sleep: how retries and rate-limit waits sleep (tests pass a fake).
    :param random: the jitter and balancing random source, uniform in [0, 1).
    :param suppression: the suppression layer around the whole stack
        (:mod:`mailcore.policy.suppress`): ``True`` (the outbox file), a ``sqlite:///`` URL, a
        :class:`~mailcore.policy.suppress.SuppressionPolicy` or dict, ``None`` for none.
        Default ``"env"``: ``MAILCORE_SUPPRESSION`` (``on``, ``off`` or a URL; off when unset).

    A URL may be given as a :class:`~mailcore.redact.Secret`. A :class:`ConfigurationError`
    leaves this function without the frames below it, whose local variables hold revealed
    URLs (Django's debug page prints them).
    """
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if on_ambiguous not in AMBIGUOUS_CHOICES:
        raise ConfigurationError(f"on_ambiguous={on_ambiguous!r}; choose one of {', '.join(AMBIGUOUS_CHOICES)}")
    single_item = isinstance(spec, str | Secret | TransportURL | Composite | Transport)
    items: list[Item] = [spec] if single_item else list(spec)  # type: ignore[list-item,arg-type]
    if not items:
        raise ConfigurationError("no transport given; pass a URL such as smtp://user:pass@host:587")
    nodes = [parse(item) if isinstance(item, str | Secret) else item for item in items]
    root: Node | Transport = nodes[0] if len(nodes) == 1 else Composite(strategy, tuple(_as_children(nodes)))
    if registry is None:
        from mailcore.plugins import get_registry

        registry = get_registry()
    options = _Options(
        registry=registry,
        retry=RetryPolicy() if retry is DEFAULT else RetryPolicy.coerce(retry),
        breaker=BreakerPolicy() if breaker is DEFAULT else BreakerPolicy.coerce(breaker),
        on_ambiguous=on_ambiguous,
        store=open_state(state),
        clock=clock or time.monotonic,
        wall_clock=clock or time.time,
        sleep=sleep or time.sleep,
        random=random or _random.random,
        single=_count_leaves(root) == 1,
    )
    if isinstance(root, Composite):
        _check_weights(root)
    elif isinstance(root, TransportURL) and root.get("weight") is not None:
        raise ConfigurationError(f"{root.masked()}: ?weight= only means something inside weighted(...)")
    stack = _build(root, options)
    chosen = SuppressionPolicy.coerce(suppression)
    return stack if chosen is None else Suppressing(stack, chosen)


class _Built:
    """A ready transport carried inside a Composite while the tree is assembled."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def masked(self) -> str:
        return self.transport.name


def _as_children(nodes: Sequence[Node | Transport]) -> list[Any]:
    return [_Built(node) if isinstance(node, Transport) else node for node in nodes]


def _count_leaves(node: Any) -> int:
    if isinstance(node, _Built):
        node = node.transport
    if isinstance(node, Composite):
        return sum(_count_leaves(child) for child in node.children)
    if isinstance(node, Policy):
        return 2  # an already composed stack: never treat it as the only route
    return 1


def _check_weights(node: Composite) -> None:
    for child in node.children:
        if isinstance(child, Composite):
            _check_weights(child)
        elif isinstance(child, TransportURL) and child.get("weight") is not None and node.kind != "weighted":
            raise ConfigurationError(
                f"{child.masked()}: ?weight= only means something inside weighted(...), not {node.kind}(...)"
            )


def _build(node: Any, options: _Options) -> Transport:
    if isinstance(node, _Built):
        node = node.transport
    if isinstance(node, Policy):
        return node
    if isinstance(node, Transport):
        return _wrap_leaf(node, None, options)
    if isinstance(node, TransportURL):
        rate = node.get("rate")
        leaf = options.registry.create(node.without(*POLICY_PARAMS))
        return _wrap_leaf(leaf, rate, options)
    children = [_build(child, options) for child in node.children]
    return _combine(node.kind, children, [_weight(child) for child in node.children], options)


def _weight(node: Any) -> float:
    if isinstance(node, TransportURL):
        weight = node.get_float("weight", 1.0)
        return 1.0 if weight is None else weight
    return 1.0


def _wrap_leaf(leaf: Transport, rate: str | None, options: _Options) -> Transport:
    transport = leaf
    if rate is not None:
        transport = RateLimit(
            transport,
            parse_rate(rate),
            store=options.store,
            wait=options.single,
            clock=options.clock,
            sleep=options.sleep,
        )
    if options.single:  # the breaker inside: a skipped message still ends as DeliveryFailed
        transport = _breaker(transport, options)
    if options.retry is not None:
        transport = Retrying(
            transport,
            options.retry,
            on_ambiguous=options.on_ambiguous,
            clock=options.clock,
            sleep=options.sleep,
            random=options.random,
        )
    return transport if options.single else _breaker(transport, options)


def _breaker(transport: Transport, options: _Options) -> Transport:
    if options.breaker is None:
        return transport
    return CircuitBreaker(
        transport, options.breaker, store=options.store, clock=options.wall_clock, rejections_only=options.single
    )


def _combine(kind: str, transports: list[Transport], weights: list[float], options: _Options) -> Combinator:
    common: dict[str, Any] = {
        "on_ambiguous": options.on_ambiguous,
        "deadline": options.retry.deadline if options.retry is not None else None,
        "clock": options.clock,
    }
    if kind == "failover":
        return Failover(transports, **common)
    if kind == "roundrobin":
        return RoundRobin(transports, random=options.random, **common)
    if kind == "weighted":
        return Weighted(transports, weights, random=options.random, **common)
    raise ConfigurationError(f"unknown strategy {kind!r}; choose one of {', '.join(STRATEGIES)}")
