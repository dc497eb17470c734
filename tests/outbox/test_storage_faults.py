"""The worker against a failing database: locked by another writer, and a really full disk.

The full disk is a tiny tmpfs mounted for the test (as root, or through passwordless ``sudo -n``
as on CI runners; elsewhere the test skips, and fails under MAILCORE_REQUIRE_SERVICES=1 as in
CI). Filling it makes SQLite's WAL appends fail with ``database or disk is full``, exactly as a
full /var would.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import WORKER_CMD, stop

from mailcore import Mailer, Message, SendResult, Transport
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.policy.retry import RetryPolicy
from mailcore.testing import skip_or_fail

NO_WAIT = RetryPolicy(first_delay=0.0, jitter=False, deadline=None)


class TinyDisk:
    """A 2 MiB tmpfs: ``fill()`` takes every free byte, ``free()`` gives them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    options = f"size=2m,mode=0700,uid={os.getuid()},gid={os.getgid()}"
    try:
        done = subprocess.run(
            [*sudo, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True
        )
    except FileNotFoundError as error:
        skip_or_fail(f"cannot mount a tmpfs for the disk-full tests: {error}")
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs for the disk-full tests (root or sudo -n needed): {done.stderr.strip()}")
    try:
        yield TinyDisk(mount)
    finally:
        subprocess.run([*sudo, "umount", "-l", str(mount)], check=False)


@pytest.fixture
def place(request, tmp_path):
    """Where the outbox lives and how to break it: a full tiny disk, or another writer's lock."""
    if request.param == "full":
        disk = request.getfixturevalue("disk")
        return disk.path, disk.fill, disk.free
    writer = Writer(str(tmp_path / "outbox.sqlite3"))
    return tmp_path, writer.lock, writer.release


class Writer:
    """Another process's writer: holds SQLite's write lock until ``release()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def lock(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.db is not None:
            self.db.close()  # rolls the open transaction back
            self.db = None


class FaultAfterAccept(Transport):
    """A provider that accepts each message; after the first one it breaks the database for a
    while, so the worker's ``sent`` mark meets the fault."""

    name = "memory://accepting"

    def __init__(self, fault, heal, seconds=1.0):
        self.fault, self.heal, self.seconds, self.sent = fault, heal, seconds, []

    def send(self, message):
        self.sent.append(message.message_id)
        if len(self.sent) == 1:
            self.fault()
            threading.Timer(self.seconds, self.heal).start()
        return SendResult(message.message_id, self.name, provider_message_id=f"p{len(self.sent)}")


def messages(n):
    return [Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="code 123456") for i in range(n)]


def assert_sent_once(box, transport_sent, ids, expected):
    assert sorted(transport_sent) == sorted(expected), "a message was sent twice or not at all"
    assert [box.find(i).state for i in ids] == ["sent"] * len(ids)


def test_mark_sent_on_a_full_disk_is_retried_until_it_is_written(disk, caplog):
    url = f"sqlite:///{disk.path / 'outbox.sqlite3'}"
    m = Mailer("memory://unused", outbox=url, retry=None)
    batch = messages(3)
    ids = [m.enqueue(msg) for msg in batch]
    transport = FaultAfterAccept(disk.fill, disk.free)
    worker = OutboxWorker(Mailer(transport, outbox=url, retry=None), backoff=NO_WAIT, retention_interval=3600)
    with caplog.at_level(logging.WARNING, logger="mailcore.outbox"):
        worker.run(until_idle=True)
    assert "database or disk is full" in caplog.text and "could not record" in caplog.text
    assert_sent_once(worker.outbox, transport.sent, ids, [msg.message_id for msg in batch])
    assert worker.stats.sent == 3


def test_mark_sent_on_a_locked_database_is_retried_until_it_is_written(outbox_url, caplog):
    url = outbox_url + "?busy_timeout=0.05"
    m = Mailer("memory://unused", outbox=url, retry=None)
    batch = messages(3)
    ids = [m.enqueue(msg) for msg in batch]
    other = Writer(outbox_url.removeprefix("sqlite:///"))
    transport = FaultAfterAccept(other.lock, other.release)
    worker = OutboxWorker(Mailer(transport, outbox=url, retry=None), backoff=NO_WAIT, retention_interval=3600)
    with caplog.at_level(logging.WARNING, logger="mailcore.outbox"):
        worker.run(until_idle=True)
    assert "database is locked" in caplog.text
    assert_sent_once(worker.outbox, transport.sent, ids, [msg.message_id for msg in batch])


class Counting(Transport):
    name = "memory://counting"

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message.message_id)
        return SendResult(message.message_id, self.name)


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("place", ["full", "locked"], indirect=True)
def test_the_worker_thread_survives_a_storage_outage(place, caplog):
    directory, break_it, heal = place
    url = f"sqlite:///{directory / 'outbox.sqlite3'}?busy_timeout=0.05"
    transport = Counting()
    m = Mailer(transport, outbox=url, retry=None)
    first = messages(2)
    ids = [m.enqueue(msg) for msg in first]
    with caplog.at_level(logging.WARNING, logger="mailcore.outbox"):
        break_it()
        worker = m.start_worker(poll_interval=0.02, backoff=NO_WAIT)
        try:
            assert wait_until(lambda: "storage error" in caplog.text, 10), caplog.text
            time.sleep(0.5)  # several failed tries in a row
            assert worker._thread.is_alive() and transport.sent == []
            heal()
            assert wait_until(lambda: len(transport.sent) == 2, 15), transport.sent
            later = m.enqueue(messages(1)[0])  # the same thread goes on working
            assert wait_until(lambda: len(transport.sent) == 3, 15)
            assert worker._thread.is_alive()
        finally:
            worker.stop()
            heal()
    assert sorted(transport.sent) == sorted(
        [*(msg.message_id for msg in first), open_outbox(url).find(later).message_id]
    )
    assert [open_outbox(url).find(i).state for i in [*ids, later]] == ["sent"] * 3


@pytest.mark.parametrize("place", ["full", "locked"], indirect=True)
def test_the_cli_worker_neither_crashes_nor_resends_when_the_sent_mark_fails(place, tmp_path, plugin_env):
    from conftest import start_sink

    directory, break_it, heal = place
    sink = start_sink(tmp_path)
    url = f"sqlite:///{directory / 'outbox.sqlite3'}?busy_timeout=0.1"
    box = open_outbox(url)
    slow = Message("app@example.com", ["u@example.org"], "slow", text="code 1", metadata={"sink": "slow:1.0"})
    batch = [slow, *messages(3)]
    ids = [box.enqueue(slow), *box.enqueue_many(batch[1:], delay=0.5)]  # the slow one goes first
    cmd = [*WORKER_CMD, "worker", "--url", f"{sink.url}?timeout=5", "--outbox", url, "--batch-size", "2",
           "--lease", "1", "--poll-interval", "0.05", "--status-interval", "0"]  # fmt: skip
    worker = subprocess.Popen(cmd, env=plugin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sink.wait_for(1, timeout=20), "the worker sent nothing"
        assert sink.counts() == {slow.message_id: 1}
        break_it()  # the provider has the message; its answer comes 1 s later, then the sent mark fails
        time.sleep(3.0)  # longer than the lease: the heartbeat must keep it through the outage
        assert worker.poll() is None, worker.communicate()[1]
        heal()
        assert wait_until(lambda: box.counts()["sent"] == len(batch), 20), box.counts()
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=10)
    finally:
        heal()
        stop(worker)
        stop(sink.process)
    assert worker.returncode == 0, stderr
    counts = sink.counts()
    assert [counts[msg.message_id] for msg in batch] == [1] * len(batch), counts
    assert [box.find(i).state for i in ids] == ["sent"] * len(batch)
