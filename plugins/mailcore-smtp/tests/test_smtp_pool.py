"""The session pool's slot counting: at most ``size`` slots out, waiters woken, idle sessions reused."""

from __future__ import annotations

import threading

import pytest

from mailcore_smtp.pool import SessionPool


class FakeSession:
    def __init__(self) -> None:
        self.closed = False
        self.messages = 0
        self.quits = 0

    def quit(self) -> None:
        self.quits += 1
        self.closed = True


def test_a_full_pool_gives_no_slot_within_the_timeout_and_one_once_a_slot_is_back():
    pool = SessionPool(2, max_messages=10)
    first, second = pool.acquire(1), pool.acquire(1)
    assert first is not None and second is not None
    assert pool.acquire(0.05) is None  # both out: nothing within 50 ms
    got = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(30)))
    waiter.start()
    pool.release(first, keep=False)  # wakes the waiter
    waiter.join(30)
    assert not waiter.is_alive() and got and got[0] is not None


def test_kept_sessions_are_reused_most_recent_first_and_others_quit():
    pool = SessionPool(2, max_messages=2)
    a, b = FakeSession(), FakeSession()
    slot = pool.acquire(1)
    assert slot is not None and slot.connection is None
    slot.connection = a  # type: ignore[assignment]
    pool.release(slot, keep=True)
    slot = pool.acquire(1)
    assert slot is not None and slot.connection is a
    slot.connection = b  # type: ignore[assignment]  # a new session replaced it
    pool.release(slot, keep=False)
    assert b.quits == 1 and pool.idle == 0
    slot = pool.acquire(1)
    assert slot is not None
    b2 = FakeSession()
    b2.messages = 2  # reached max_messages: closed, not kept
    slot.connection = b2  # type: ignore[assignment]
    pool.release(slot, keep=True)
    assert b2.quits == 1 and pool.idle == 0


def test_a_drained_generation_is_not_kept():
    pool = SessionPool(1, max_messages=10)
    slot = pool.acquire(1)
    assert slot is not None
    slot.connection = session = FakeSession()  # type: ignore[assignment]
    pool.drain()
    pool.release(slot, keep=True)
    assert session.quits == 1 and pool.idle == 0


def test_giving_back_more_slots_than_taken_is_a_bug_caught():
    pool = SessionPool(1, max_messages=10)
    slot = pool.acquire(1)
    assert slot is not None
    pool.release(slot, keep=False)
    with pytest.raises(ValueError):
        pool.release(slot, keep=False)


def test_threads_never_hold_more_slots_than_the_pool_size():
    size, threads, rounds = 3, 8, 300
    pool = SessionPool(size, max_messages=10**6)
    lock = threading.Lock()
    out = [0]
    most = [0]
    missed = []

    def work() -> None:
        for _ in range(rounds):
            slot = pool.acquire(30)
            if slot is None:
                missed.append(1)
                return
            with lock:
                out[0] += 1
                most[0] = max(most[0], out[0])
            if slot.connection is None:
                slot.connection = FakeSession()  # type: ignore[assignment]
            with lock:
                out[0] -= 1
            pool.release(slot, keep=True)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not missed and out[0] == 0
    assert 1 <= most[0] <= size
    assert pool.idle <= size  # never more sessions than slots
    assert pool.acquire(0) is not None  # every slot came back
