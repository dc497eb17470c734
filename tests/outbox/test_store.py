"""The SQLite outbox on a real file: durability settings, states, leases, operator actions."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time

import pytest

from mailcore import Attachment, ConfigurationError, Message
from mailcore.outbox import SQLiteOutbox, default_outbox_path, open_outbox, outbox_path, resolve_outbox_url


def make(n=0, **fields):
    fields.setdefault("text", "Your code is SECRET-123456")
    return Message("app@example.com", [f"user{n}@example.org", "cc@example.org"], f"subject {n}", **fields)


@pytest.fixture
def box(outbox_url):
    with open_outbox(outbox_url) as outbox:
        yield outbox


def test_enqueue_is_committed_and_visible_to_another_connection(box):
    message = make(attachments=[Attachment("a.bin", b"\x00\x01")], metadata={"k": "v"})
    entry_id = box.enqueue(message)
    other = sqlite3.connect(box.path)
    state, _payload = other.execute("SELECT state, payload FROM outbox WHERE id = ?", (entry_id,)).fetchone()
    other.close()
    assert state == "queued"
    assert box.message(entry_id) == message
    assert '"SECRET-123456"' not in repr(box.find(entry_id))  # the summary carries no body


def test_database_is_private_wal_and_full_sync(box):
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o600
    box.enqueue(make())
    for suffix in ("-wal", "-shm"):
        extra = box.path.with_name(box.path.name + suffix)
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_claim_takes_due_rows_under_a_lease_once(box):
    ids = [box.enqueue(make(i)) for i in range(5)]
    later = box.enqueue(make(9), delay=60)
    first = box.claim("w1", limit=3, lease=60)
    second = box.claim("w2", limit=10, lease=60)
    assert [c.id for c in first] == ids[:3]
    assert [c.id for c in second] == ids[3:]
    assert later not in {c.id for c in first + second}
    assert box.claim("w3", limit=10, lease=60) == []
    assert all(c.runs == 1 for c in first)
    entry = box.find(ids[0])
    assert entry.state == "sending" and entry.lease_owner == "w1"


def test_two_connections_racing_to_claim_never_share_a_row(box):
    """Two workers (two connections to the same file, in two threads) claim in small batches
    until the outbox is empty: every row is claimed exactly once."""
    ids = box.enqueue_many([make(i) for i in range(300)])
    claimed = {"w1": [], "w2": []}
    barrier = threading.Barrier(2)

    def work(owner):
        with SQLiteOutbox(box.path, synchronous="NORMAL") as own:
            barrier.wait()
            while batch := own.claim(owner, limit=7, lease=60):
                claimed[owner] += [c.id for c in batch]
                time.sleep(0.001)  # let the other worker in between batches

    threads = [threading.Thread(target=work, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed["w1"] + claimed["w2"]) == sorted(ids)
    assert claimed["w1"] and claimed["w2"]


def test_renew_reports_the_rows_still_held(box):
    ids = [box.enqueue(make(i)) for i in range(3)]
    box.claim("w1", limit=3, lease=0.05)
    time.sleep(0.1)
    box.claim("w2", limit=1, lease=60)  # w1's lease ran out: w2 takes the oldest row
    assert box.renew("w1", ids, 60) == ids[1:]
    assert box.find(ids[0]).lease_owner == "w2"


def test_an_expired_lease_is_claimed_again(box):
    entry_id = box.enqueue(make())
    [_claim] = box.claim("dead-worker", limit=1, lease=0.05)
    assert box.claim("w2", limit=1, lease=60) == []
    time.sleep(0.1)
    [again] = box.claim("w2", limit=1, lease=60)
    assert again.id == entry_id and again.runs == 2
    box.mark_failed("dead-worker", entry_id, "too late")  # the old owner no longer holds it
    assert box.find(entry_id).state == "sending"


def test_outcomes_are_recorded(box):
    a, b, c, d = (box.enqueue(make(i)) for i in range(4))
    box.claim("w", limit=4, lease=60)
    box.mark_sent(a, transport="memory://x", provider_message_id="p-1")
    box.mark_failed("w", b, "550 no such user")
    box.mark_unknown("w", c, "timeout after DATA")
    box.reschedule("w", d, 30, "421 try later")
    assert [box.find(i).state for i in (a, b, c, d)] == ["sent", "failed", "unknown", "queued"]
    assert box.find(a).provider_message_id == "p-1"
    assert box.find(b).last_error == "550 no such user"
    assert box.find(d).due_at > time.time() + 25
    assert box.counts() == {"queued": 1, "sending": 0, "sent": 1, "failed": 1, "unknown": 1, "expired": 0}


def test_release_gives_rows_back_uncounted(box):
    ids = [box.enqueue(make(i)) for i in range(3)]
    box.claim("w", limit=3, lease=60)
    box.release("w", ids[1:])
    entries = [box.find(i) for i in ids]
    assert [e.state for e in entries] == ["sending", "queued", "queued"]
    assert entries[1].runs == 0


def test_retry_and_purge(box):
    a, b, c = (box.enqueue(make(i)) for i in range(3))
    box.claim("w", limit=3, lease=60)
    box.mark_failed("w", a, "x")
    box.mark_unknown("w", b, "y")
    box.mark_sent(c, transport="t", provider_message_id=None)
    assert box.retry(state="failed") == 1
    assert box.retry(ids=[b, c]) == 1  # the sent one does not move
    assert box.find(a).state == box.find(b).state == "queued"
    with pytest.raises(ValueError):
        box.retry(state="sent")
    assert box.purge(state="sent", older_than=3600) == 0
    assert box.purge(state="sent") == 1
    assert box.counts()["sent"] == 0


def test_find_by_prefix_or_message_id(box):
    message = make()
    entry_id = box.enqueue(message)
    assert box.find(entry_id[:8]).id == entry_id
    assert box.find(message.message_id).id == entry_id
    assert box.find(message.correlation_id).id == entry_id
    with pytest.raises(KeyError):
        box.find("zzzz")


def test_reopening_keeps_everything(outbox_url):
    with open_outbox(outbox_url) as first:
        entry_id = first.enqueue(make())
    with open_outbox(outbox_url) as second:
        assert second.find(entry_id).state == "queued"


def test_urls_and_default_location(tmp_path, monkeypatch):
    assert outbox_path("sqlite:////var/lib/m/o.db").as_posix() == "/var/lib/m/o.db"
    assert outbox_path("sqlite:///data/o.db").as_posix() == "data/o.db"
    assert outbox_path(str(tmp_path / "x.db")) == tmp_path / "x.db"
    for bad in ("sqlite://", "sqlite:///:memory:", "postgres://db/x"):
        with pytest.raises(ConfigurationError):
            outbox_path(bad)
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    assert default_outbox_path(env, "linux") == tmp_path / "data" / "mailcore" / "outbox.sqlite3"
    assert resolve_outbox_url(None, {"MAILCORE_OUTBOX": "sqlite:///a.db"}) == "sqlite:///a.db"
    assert resolve_outbox_url("sqlite:///b.db", {"MAILCORE_OUTBOX": "sqlite:///a.db"}) == "sqlite:///b.db"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MAILCORE_OUTBOX", raising=False)
    with open_outbox() as box:
        assert box.path == tmp_path / "xdg" / "mailcore" / "outbox.sqlite3"
        assert stat.S_IMODE(box.path.parent.stat().st_mode) == 0o700


def test_rejects_a_newer_schema(tmp_path):
    path = tmp_path / "o.db"
    SQLiteOutbox(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        SQLiteOutbox(path)
