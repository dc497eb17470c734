"""Crash tests with real processes: SIGKILL a worker mid-batch, kill a producer after enqueue,
two workers whose sends outlast the lease, and a loop of SIGKILLs against two workers.

The sink is its own process and records each message before answering, so a killed worker
cannot take the sink's evidence with it.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time

from conftest import WORKER_CMD, stop

from mailcore import Message
from mailcore.outbox import open_outbox

TOTAL = 500
BATCH = 50


def worker(sink, outbox_url, env, *extra, batch=BATCH, lease=1.5, url_query=""):
    cmd = [*WORKER_CMD, "worker", "--url", sink.url + url_query, "--outbox", outbox_url, "--batch-size", str(batch),
           "--lease", str(lease), "--poll-interval", "0.05", "--status-interval", "0", *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_sigkill_mid_batch_then_restart_delivers_every_message(slow_sink, plugin_env, outbox_url):
    box = open_outbox(outbox_url)
    messages = [Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="x") for i in range(TOTAL)]
    box.enqueue_many(messages)

    first = worker(slow_sink, outbox_url, plugin_env)
    try:
        assert slow_sink.wait_for(BATCH * 2 + BATCH // 2, timeout=30), "the first worker delivered nothing"
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        stop(first)
    delivered_before_kill = len(slow_sink.records())
    counts = box.counts()
    assert counts["sending"] > 0, f"the kill did not land mid-batch: {counts}"  # rows left under the dead lease

    second = worker(slow_sink, outbox_url, plugin_env)
    try:
        assert wait_until(lambda: box.counts()["sent"] == TOTAL, timeout=40), box.counts()
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=10)
    finally:
        stop(second)
    assert second.returncode == 0, stderr
    assert "SIGTERM: finishing the message in flight" in stderr and "sent " in stderr

    seen = slow_sink.counts()
    missing = {m.message_id for m in messages} - set(seen)
    duplicates = sum(count - 1 for count in seen.values())
    print(
        f"\ncrash test: {TOTAL} enqueued, killed after {delivered_before_kill} at the sink with "
        f"{counts['sending']} in flight; sent {len(seen)}, missing {len(missing)}, duplicates {duplicates}"
    )
    assert not missing
    assert duplicates <= counts["sending"] <= BATCH


PRODUCER = textwrap.dedent(
    """
    import sys, time
    from mailcore import Mailer, Message
    mailer = Mailer("memory://never", outbox=sys.argv[1])
    for i in range(1000):
        entry_id = mailer.enqueue(Message("app@example.com", ["u@example.org"], f"n{i}", text="kept"))
        print(entry_id, flush=True)
    time.sleep(60)
    """
)


def test_a_message_survives_a_kill_right_after_enqueue_returns(outbox_url):
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, outbox_url], stdout=subprocess.PIPE, text=True)
    try:
        ids = [producer.stdout.readline().strip() for _ in range(20)]
        producer.send_signal(signal.SIGKILL)
        producer.wait(5)
    finally:
        stop(producer)
    box = open_outbox(outbox_url)
    for entry_id in ids:
        entry = box.find(entry_id)
        assert entry.state == "queued"
        assert box.message(entry_id).text == "kept"


SLOW_SEND = 2.0  # seconds the sink takes for a "slow" message: twice the lease below
LEASE = 1.0


def test_two_workers_with_sends_longer_than_the_lease_send_nothing_twice(sink, plugin_env, outbox_url):
    """Issue 12 item 4: the lease used to run out mid-send and the other worker sent it again."""
    box = open_outbox(outbox_url)
    messages = [
        Message("app@example.com", [f"u{i}@example.org"], f"otp {i}", text="code",
                metadata={"sink": f"slow:{SLOW_SEND}"} if i % 40 == 0 else {})
        for i in range(200)
    ]  # fmt: skip
    box.enqueue_many(messages)
    workers = [worker(sink, outbox_url, plugin_env, batch=10, lease=LEASE, url_query="?timeout=5") for _ in range(2)]
    try:
        assert wait_until(lambda: box.counts()["sent"] == len(messages), timeout=90), box.counts()
        for process in workers:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=10)[1] for process in workers]
    finally:
        for process in workers:
            stop(process)
    assert [process.returncode for process in workers] == [0, 0], outputs
    seen = sink.counts()
    duplicates = {mid: n for mid, n in seen.items() if n > 1}
    print(f"\nlease test: 200 messages, 5 slow sends of {SLOW_SEND}s under a {LEASE}s lease; duplicates {duplicates}")
    assert not duplicates
    assert set(seen) == {m.message_id for m in messages}


def test_a_loop_of_sigkills_against_two_workers_loses_nothing(slow_sink, plugin_env, outbox_url):
    """Kill one of two live workers (with their lease heartbeats) again and again; restart it."""
    box = open_outbox(outbox_url)
    messages = [Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="x") for i in range(600)]
    box.enqueue_many(messages)
    rng = random.Random(12)
    start = lambda: worker(slow_sink, outbox_url, plugin_env, batch=20, lease=1.0)  # noqa: E731
    workers = [start(), start()]
    kills = 0
    try:
        # at least 3 kills (a fast machine may drain 80 % before), at most 8
        while kills < 3 or (box.counts()["sent"] < len(messages) * 0.8 and kills < 8):
            time.sleep(rng.uniform(0.3, 0.9))
            victim = kills % 2
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(5)
            kills += 1
            workers[victim] = start()
        assert wait_until(lambda: box.counts()["sent"] == len(messages), timeout=60), box.counts()
    finally:
        for process in workers:
            stop(process)
    seen = slow_sink.counts()
    missing = {m.message_id for m in messages} - set(seen)
    duplicates = sum(count - 1 for count in seen.values())
    print(f"\nSIGKILL loop: {len(messages)} messages, {kills} kills; missing {len(missing)}, duplicates {duplicates}")
    assert kills >= 3
    assert not missing
    assert duplicates <= kills  # at most the one message each killed worker had in flight
