"""mailcore.idempotency.run_once on the memory store: once per key, waits, frees on failure."""

from __future__ import annotations

import pytest

from mailcore.errors import DuplicateSend, TransientError
from mailcore.idempotency import PENDING_TTL, run_once
from mailcore.policy.state import PENDING, MemoryStore


def test_the_action_runs_once_per_key_and_the_first_value_comes_back():
    store = MemoryStore()
    calls = []

    def action():
        calls.append(1)
        return f"id-{len(calls)}"

    assert run_once(store, "k", 60, action) == ("id-1", False)
    assert run_once(store, "k", 60, action) == ("id-1", True)
    assert run_once(store, "other", 60, action) == ("id-2", False)
    assert len(calls) == 2


def test_a_failed_action_frees_the_key():
    store = MemoryStore()

    def boom():
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        run_once(store, "k", 60, boom)
    assert run_once(store, "k", 60, lambda: "sent") == ("sent", False)


def test_a_key_in_flight_elsewhere_is_waited_for_then_a_transient_duplicate_send():
    store = MemoryStore()
    assert store.idempotency_reserve("k", PENDING_TTL) is None  # another caller's send in flight
    assert store.idempotency_reserve("k", PENDING_TTL) == PENDING
    slept = []
    with pytest.raises(DuplicateSend) as err:
        run_once(store, "k", 60, lambda: "never", wait=1.0, sleep=slept.append)
    assert isinstance(err.value, TransientError)
    assert 0.9 <= sum(slept) <= 1.5


def test_the_wait_ends_when_the_first_caller_records_its_value():
    store = MemoryStore()
    store.idempotency_reserve("k", PENDING_TTL)

    def sleep(seconds):
        store.idempotency_record("k", "first", 60)

    assert run_once(store, "k", 60, lambda: "second", sleep=sleep) == ("first", True)


def test_a_remembered_key_is_forgotten_after_its_window():
    store = MemoryStore()
    run_once(store, "k", 0.001, lambda: "first")
    import time

    time.sleep(0.01)
    assert run_once(store, "k", 60, lambda: "again") == ("again", False)
