"""A rate limit held by two worker processes together, through Redis, measured at the sink."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import uuid

import pytest
from conftest import WORKER_CMD, require_redis, stop

from mailcore import Message
from mailcore.outbox import open_outbox

pytestmark = pytest.mark.service
LIMIT = 100  # per second, for both workers together
TOTAL = 400


def busiest_second(timestamps):
    """The most records in any one-second window (a moving window, like the limiter's)."""
    timestamps = sorted(timestamps)
    best, start = 0, 0
    for end, stamp in enumerate(timestamps):
        while stamp - timestamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_two_workers_share_one_limit(sink, plugin_env, outbox_url):
    require_redis(14)
    state = f"redis://127.0.0.1:6379/14?prefix=mctest-{uuid.uuid4().hex[:8]}"
    box = open_outbox(outbox_url)
    box.enqueue_many(Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="x") for i in range(TOTAL))
    cmd = [*WORKER_CMD, "worker", "--url", f"{sink.url}?rate={LIMIT}/s", "--outbox", outbox_url, "--state", state,
           "--batch-size", "5", "--poll-interval", "0.05", "--status-interval", "0"]  # fmt: skip
    workers = [subprocess.Popen(cmd, env=plugin_env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while box.counts()["sent"] < TOTAL and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=10)[1] for worker in workers]
    finally:
        for worker in workers:
            stop(worker)
    assert box.counts()["sent"] == TOTAL
    per_worker = [int(re.findall(r"sent (\d+)", out)[-1]) for out in outputs]
    stamps = [ts for ts, _ in sink.records()]
    peak = busiest_second(stamps)
    span = max(stamps) - min(stamps)
    print(f"\nrate limit {LIMIT}/s over 2 workers {per_worker}: busiest second {peak} at the sink, "
          f"{TOTAL} messages in {span:.2f}s")  # fmt: skip
    assert all(n > 0 for n in per_worker), per_worker  # both processes took part
    assert sum(per_worker) == TOTAL
    assert peak <= LIMIT * 1.05
    assert span >= (TOTAL / LIMIT - 1) * 0.95  # it was held back, not merely fast
