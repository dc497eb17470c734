"""Send a batch through the same policy stack single messages use: the policy applies per batch.

The Mailer's stack is ``Failover``/``RoundRobin``/``Weighted`` over ``CircuitBreaker``,
``Retrying`` and ``RateLimit`` wrappers around provider transports. :func:`batch_route` builds a
twin of that stack for batches: every policy layer is a shallow copy (same retry policy, same
breaker state store, same rate limiter, same clocks), and every provider transport is replaced
by a :class:`BatchLeaf` that delivers the *current batch* (held in a context variable) when the
policy hands it the batch's stand-in message. So a batch is retried, failed over, skipped by an
open breaker or counted by a limit exactly as one message is, by the policy code itself.

What this relies on in :mod:`mailcore.policy` (the contract; a test in ``tests/bulk`` checks
every built-in layer): a :class:`~mailcore.policy.base.Wrapper` holds its one child in
``inner``, a :class:`~mailcore.policy.failover.Combinator` its children in ``transports``, and
neither keeps another reference to a child (per-child state is keyed by name). Any other
:class:`~mailcore.policy.base.Policy` is refused with :class:`ConfigurationError`, and the
engine falls back to one message per recipient through the original stack.

The batch protocol a provider transport MAY offer (duck-typed, see docs/bulk.md)::

    max_batch_size: int                                   # recipients per provider request
    def send_batch(self, batch: Batch) -> list[RecipientResult]: ...
    def accepts_batch(self, message: Message) -> bool: ...  # optional: this template batchable?

``send_batch`` returns one result per item, or raises a :class:`~mailcore.errors.SendError` when
the provider accepted none of them (the policy then retries or fails over the whole batch). A
transport without it gets one message per recipient, rendered locally.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mailcore.bulk.model import Batch, RecipientResult
from mailcore.capabilities import capabilities_of, missing
from mailcore.errors import ConfigurationError, InvalidMessage, MessageRejected, SendError
from mailcore.message import Message
from mailcore.result import Attempt, SendResult
from mailcore.transport import Transport

__all__ = ["BatchLeaf", "BatchState", "BatchTransport", "accepts_batch", "batch_route", "current_state", "leaves"]


@runtime_checkable
class BatchTransport(Protocol):
    """A transport that can deliver many personalized messages per provider request."""

    max_batch_size: int

    def send_batch(self, batch: Batch) -> list[RecipientResult]: ...


@dataclass
class BatchState:
    """The batch travelling through the stack: what is still to send, and what is done."""

    batch: Batch
    results: list[RecipientResult] = field(default_factory=list)

    def settle(self, done: list[RecipientResult], remaining: int) -> None:
        """Record ``done`` and keep only the last ``remaining`` items pending (progress that a
        retry or failover must not repeat)."""
        self.results.extend(done)
        items = self.batch.items
        self.batch = Batch(self.batch.template, items[len(items) - remaining :] if remaining else ())


_current: ContextVar[BatchState | None] = ContextVar("mailcore_batch", default=None)


def current_state() -> ContextVar[BatchState | None]:
    """The context variable holding the batch in flight (set by the bulk engine)."""
    return _current


def has_batch_api(transport: Transport) -> bool:
    """Whether ``transport`` offers ``send_batch`` at all."""
    return callable(getattr(transport, "send_batch", None))


def accepts_batch(transport: Transport, message: Message) -> bool:
    """Whether ``transport`` delivers batches of this template (SES needs a stored template:
    a transport may say no through an optional ``accepts_batch(message) -> bool``)."""
    if not has_batch_api(transport) or message.local_template is not None:
        return False  # a local template is rendered per recipient by mailcore
    if missing(message, capabilities_of(transport)):
        return False  # one message per recipient, each checked (and skipped) by the leaf
    accepts = getattr(transport, "accepts_batch", None)
    return True if accepts is None else bool(accepts(message))


def leaves(transport: Transport) -> Iterator[Transport]:
    """The transports at the bottom of a policy stack (or ``transport`` itself)."""
    children = transport.children()
    if not children or has_batch_api(transport):
        yield transport
        return
    for child in children:
        yield from leaves(child)


def batch_route(transport: Transport) -> Transport:
    """The batch twin of a policy stack (see the module docstring).

    Raises :class:`ConfigurationError` for a policy layer it does not know how to copy; the
    engine then sends one message per recipient through the original stack.
    """
    from mailcore.policy.base import Policy, Wrapper
    from mailcore.policy.failover import Combinator

    if has_batch_api(transport) or not transport.children():
        return BatchLeaf(transport)
    clone: Any = copy.copy(transport)
    if isinstance(transport, Wrapper):
        clone.inner = batch_route(transport.inner)
    elif isinstance(transport, Combinator):
        clone.transports = [batch_route(child) for child in transport.transports]
    elif isinstance(transport, Policy):
        raise ConfigurationError(f"bulk sending cannot route batches through {type(transport).__name__}")
    else:
        raise ConfigurationError(f"{type(transport).__name__} wraps transports but is not a policy")
    result: Transport = clone
    return result


class BatchLeaf(Transport):
    """Stands in for a provider transport inside the batch twin of the stack.

    Its ``send`` ignores the stand-in message and delivers the pending batch: through the
    transport's ``send_batch`` in chunks of its ``max_batch_size``, or one rendered message per
    recipient. Progress made before a failure is settled, so a retry or a failover carries on
    with the recipients that are left and never repeats one.
    """

    def __init__(self, leaf: Transport) -> None:
        self.leaf = leaf
        self.name = leaf.name
        self.capabilities = capabilities_of(leaf)

    def send(self, message: Message) -> SendResult:
        state = _current.get()
        if state is None:
            raise ConfigurationError("BatchLeaf.send called outside a bulk send")
        started = time.perf_counter()
        try:
            if accepts_batch(self.leaf, state.batch.template.message):
                self._send_chunks(state)
            else:
                self._send_each(state)
        except SendError as error:
            if error.transport is None:
                error.transport = self.name
            raise
        return SendResult(
            message.message_id, self.name, None, (Attempt(self.name, None, time.perf_counter() - started),)
        )

    def _send_chunks(self, state: BatchState) -> None:
        leaf: Any = self.leaf
        size = max(1, int(getattr(leaf, "max_batch_size", 0) or len(state.batch.items) or 1))
        template = state.batch.template
        while state.batch.items:
            items = state.batch.items
            chunk = Batch(template, items[:size])
            results = leaf.send_batch(chunk)
            state.settle(list(results), len(items) - len(chunk.items))

    def _send_each(self, state: BatchState) -> None:
        batch = state.batch
        template = batch.template
        done: list[RecipientResult] = []
        total = len(batch.items)
        for number, item in enumerate(batch.items):
            try:
                result = self.leaf.send(template.render(item))
            except (MessageRejected, InvalidMessage) as error:
                done.append(batch.refused(item, self.name, error))
                continue
            except SendError:
                state.settle(done, total - number)
                raise
            done.append(batch.accepted(item, result.transport, result.provider_message_id))
        state.settle(done, 0)

    def children(self) -> tuple[Transport, ...]:
        return ()
