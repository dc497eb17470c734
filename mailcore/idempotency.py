"""Do something once per idempotency key within a window, across processes sharing a state store.

:func:`run_once` backs ``Mailer.send()`` and the Celery queue's ``enqueue()`` for messages with
an ``idempotency_key`` (outbox stores deduplicate in their own table, in the enqueue transaction).
The store (:class:`mailcore.policy.state.IdempotencyStore`: the memory store of this process, or
Redis shared by every worker) reserves the key atomically, so of two concurrent callers exactly
one runs the action; the other waits for its recorded value. A failed action frees the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mailcore.errors import DuplicateSend

__all__ = ["PENDING_TTL", "WAIT", "idempotency_store", "run_once"]

#: Seconds a key stays reserved by an action in flight (a crashed caller frees it after this).
PENDING_TTL = 300.0
#: Longest wait for a concurrent first action with the same key before :class:`DuplicateSend`.
WAIT = 30.0
_PENDING = "pending"


def run_once(
    store: Any,
    key: str,
    window: float,
    action: Callable[[], str],
    *,
    wait: float = WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, bool]:
    """Run ``action`` unless ``key`` was done within ``window`` seconds; return (value, replayed).

    ``action`` returns the text to remember (an id, a result as JSON). When the key was seen,
    the first value comes back with ``replayed=True`` and nothing runs. While another caller's
    action is in flight this waits up to ``wait`` seconds, then raises :class:`DuplicateSend`.
    If ``action`` raises, the key is freed (a retry may run it) and the error propagates.
    """
    first = store.idempotency_reserve(key, PENDING_TTL)
    waited, pause = 0.0, 0.05
    while first == _PENDING and waited < wait:
        sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.5)
        first = store.idempotency_reserve(key, PENDING_TTL)
    if first == _PENDING:
        raise DuplicateSend(f"another action with this idempotency key is still in flight after {waited:.0f}s")
    if first is not None:
        return str(first), True
    try:
        value = action()
    except BaseException:
        store.idempotency_forget(key)
        raise
    store.idempotency_record(key, value, window)
    return value, False


def idempotency_store(state: Any = None) -> Any:
    """The store for ``state`` (a URL, a store, ``None``: ``MAILCORE_STATE_URL``), or the
    process-wide memory store when that one cannot remember keys (or none is configured)."""
    import os

    from mailcore.policy.state import STATE_ENV, IdempotencyStore, open_state, shared_memory_store

    if state is None and not os.environ.get(STATE_ENV, "").strip():
        return shared_memory_store("mailcore-idempotency")
    store = open_state(state)
    return store if isinstance(store, IdempotencyStore) else shared_memory_store("mailcore-idempotency")
