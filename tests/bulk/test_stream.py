"""Streaming: send_iter and send_many take any iterable, keep order, and bound what is in flight."""

import threading
import time
import uuid

import pytest

from mailcore import ConfigurationError, Mailer, Message, SendError
from mailcore.bulk import bounded_map, chunked
from mailcore.testing import outbox


def messages(n, consumed=None):
    for i in range(n):
        if consumed is not None:
            consumed.append(i)
        yield Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="x")


def test_send_iter_streams_a_generator_in_order_with_errors_in_place():
    name = f"stream-{uuid.uuid4().hex[:6]}"
    mailer = Mailer(f"memory://{name}?fail=1&error=message", retry=None)
    sent = list(messages(10))
    results = list(mailer.send_iter(iter(sent), concurrency=3))
    errors = [r for r in results if isinstance(r, SendError)]
    assert len(errors) == 1 and len(outbox(name)) == 9
    ids = [r.message_id if not isinstance(r, SendError) else None for r in results]
    assert [i for i in ids if i] == [m.message_id for m in sent if m.message_id in ids]
    assert ids.count(None) == 1 and len(ids) == 10


def test_send_many_accepts_a_generator():
    name = f"stream-{uuid.uuid4().hex[:6]}"
    results = Mailer(f"memory://{name}", retry=None).send_many(messages(5))
    assert [m.subject for m in outbox(name)] == [f"n{i}" for i in range(5)]
    assert all(r.transport == f"memory://{name}" for r in results)


def test_the_input_is_read_no_further_ahead_than_the_window():
    consumed = []
    stream = Mailer("memory://window", retry=None).send_iter(messages(1000, consumed), concurrency=2, window=4)
    next(stream)
    assert len(consumed) <= 5
    stream.close()


def test_bounded_map_runs_concurrently_and_keeps_order():
    active, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01 * (i % 3))
        with lock:
            active[0] -= 1
        return i * 2

    assert list(bounded_map(work, range(30), concurrency=4)) == [i * 2 for i in range(30)]
    assert 1 < peak[0] <= 4


def test_bad_sizes_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        list(bounded_map(str, [1], concurrency=0))
    with pytest.raises(ConfigurationError):
        list(chunked([1], 0))
    assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
