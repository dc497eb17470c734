"""Crash tests with real processes: SIGKILL a worker mid-batch, kill a producer after enqueue.

The sink is its own process and records each message before answering, so a killed worker
cannot take the sink's evidence with it.
"""

from __future__ import annotations

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


def worker(sink, outbox_url, env, *extra):
    cmd = [*WORKER_CMD, "worker", "--url", sink.url, "--outbox", outbox_url, "--batch-size", str(BATCH),
           "--lease", "1.5", "--poll-interval", "0.05", "--status-interval", "0", *extra]  # fmt: skip
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
