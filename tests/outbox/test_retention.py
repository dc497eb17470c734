"""Retention: a sent one-time password leaves no trace in the outbox files; metadata expires."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailcore import ConfigurationError, Mailer, Message
from mailcore.cli import cli
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.outbox.retention import Retention, parse_duration, recipient_digest
from mailcore.policy.retry import RetryPolicy

NO_WAIT = RetryPolicy(first_delay=0.0, jitter=False, deadline=None)
DAY = 86400.0
OTP = "OTP-739164-QZX"


def otp_message(n=0, *, large=False):
    filler = ("lorem ipsum " * 2000) if large else ""  # > one page: the body spills into overflow pages
    return Message(
        "app@example.com",
        [f"User{n}@Example.org", "audit@example.org"],
        f"Your code {OTP}",
        text=f"Your one-time code is {OTP}. {filler}",
        html=f"<p>{OTP}</p>",
    )


def file_bytes(outbox_url):
    path = Path(outbox_url.removeprefix("sqlite:///"))
    return {p.name: p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()}


def deliver_all(outbox_url, url="memory://ret", **options):
    m = Mailer(url, outbox=outbox_url, retry=None)
    ids = [m.enqueue(otp_message(i, large=i % 2 == 1)) for i in range(4)]
    worker = OutboxWorker(m, backoff=NO_WAIT, **options)
    worker.run(until_idle=True)
    return m, worker, ids


def test_the_otp_is_in_the_files_while_queued(outbox_url):
    m = Mailer("memory://q", outbox=outbox_url, retry=None)
    m.enqueue(otp_message())
    assert any(OTP.encode() in data for data in file_bytes(outbox_url).values())  # the test can see it


def test_after_sending_the_otp_is_in_neither_the_database_nor_the_wal(outbox_url):
    _, worker, ids = deliver_all(outbox_url)
    found = {name: data.count(OTP.encode()) for name, data in file_bytes(outbox_url).items()}
    assert found and not any(found.values()), found
    assert b"lorem ipsum" not in b"".join(file_bytes(outbox_url).values())
    # the metadata stays
    entry = worker.outbox.find(ids[0])
    assert entry.state == "sent" and not entry.has_body and entry.subject == ""
    assert entry.message_id.startswith("<") and entry.message_id.endswith(">")
    assert entry.transport == "memory://ret" and entry.provider_message_id
    assert entry.sender == "app@example.com"
    assert entry.recipients == (recipient_digest("user0@example.org"), recipient_digest("audit@example.org"))
    assert entry.recipients[0] == recipient_digest("USER0@example.ORG")  # case-insensitive pseudonym
    assert worker.outbox.retry(ids=[ids[0]]) == 0  # nothing left to send
    with pytest.raises(KeyError, match="dropped by the retention rule"):
        worker.outbox.message(ids[0])


def test_secure_delete_is_on_for_every_connection(outbox_url):
    box = open_outbox(outbox_url)
    assert box._db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_keep_sent_body_from_the_url_keeps_the_content_until_it_expires(store_url):
    outbox_url = store_url  # SQLite and PostgreSQL
    url = outbox_url + "?keep_sent_body=2d&keep_metadata=forever"
    m = Mailer("memory://keep", outbox=url, retry=None)
    entry_id = m.enqueue(otp_message())
    now = time.time()
    clock = [now]
    worker = OutboxWorker(m, backoff=NO_WAIT, clock=lambda: clock[0])
    worker.run(until_idle=True)
    assert worker.retention == Retention(sent_body=2 * DAY, metadata=None)
    assert worker.outbox.message(entry_id).text.startswith("Your one-time code")
    clock[0] = now + 1.9 * DAY
    assert worker.enforce_retention() == (0, 0)
    clock[0] = now + 2.1 * DAY
    assert worker.enforce_retention() == (1, 0)
    assert not worker.outbox.find(entry_id).has_body
    if outbox_url.startswith("sqlite"):
        assert not any(OTP.encode() in data for data in file_bytes(outbox_url).values())
    clock[0] = now + 3650 * DAY
    assert worker.enforce_retention() == (0, 0)  # metadata kept forever


def test_metadata_is_purged_after_n_days_by_the_worker(store_url):
    outbox_url = store_url  # SQLite and PostgreSQL
    m = Mailer("memory://purge", outbox=outbox_url + "?keep_metadata=30d", retry=None)
    sent_id = m.enqueue(otp_message(1))
    now = time.time()
    clock = [now]
    worker = OutboxWorker(m, backoff=NO_WAIT, clock=lambda: clock[0], retention_interval=0.01)
    worker.run(until_idle=True)
    waiting_id = m.enqueue(otp_message(2))  # enqueued "now", still waiting 31 days later: never purged
    worker.outbox.claim("other", limit=1, lease=3600)

    clock[0] = now + 29 * DAY
    worker.run(until_idle=True)  # applies the retention rule on start
    assert worker.outbox.find(sent_id).state == "sent"
    clock[0] = now + 31 * DAY
    time.sleep(0.02)
    worker.run(until_idle=True)
    with pytest.raises(KeyError):
        worker.outbox.find(sent_id)
    assert worker.outbox.find(waiting_id).state == "sending"


def test_failed_content_is_kept_for_retry_then_dropped(store_url):
    outbox_url = store_url  # SQLite and PostgreSQL
    m = Mailer("memory://no?fail=1&error=message", outbox=outbox_url, retry=None)
    entry_id = m.enqueue(otp_message())
    now = time.time()
    clock = [now]
    worker = OutboxWorker(m, backoff=NO_WAIT, clock=lambda: clock[0])
    worker.run(until_idle=True)
    entry = worker.outbox.find(entry_id)
    assert entry.state == "failed" and entry.has_body  # a human may fix and retry it
    clock[0] = now + 8 * DAY
    assert worker.enforce_retention() == (1, 0)
    assert not worker.outbox.find(entry_id).has_body
    assert worker.outbox.retry(state="failed") == 0
    clock[0] = now + 31 * DAY
    assert worker.enforce_retention() == (0, 1)


def test_outbox_show_says_the_content_was_dropped(outbox_url):
    _, _, ids = deliver_all(outbox_url)
    result = CliRunner().invoke(cli, ["outbox", "show", "--outbox", outbox_url, ids[0]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "dropped by the retention rule" in result.output and OTP not in result.output
    assert recipient_digest("user0@example.org") in result.output


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?keep_metadta=30d", "unknown outbox URL parameter 'keep_metadta'"),
        ("?keep_metadata=soon", "keep_metadata='soon' is not a duration"),
        ("?keep_metadata=1d&keep_metadata=2d", "given twice"),
        ("?busy_timeout=forever", "busy_timeout='forever' is not a duration"),
        ("?keep_sent_body", "not name=value pairs|not a duration"),
    ],
)
def test_bad_outbox_url_parameters_are_clear_errors(outbox_url, query, message):
    with pytest.raises(ConfigurationError, match=message):
        open_outbox(outbox_url + query)


def test_outbox_url_parameters_reach_the_store(outbox_url):
    box = open_outbox(outbox_url + "?keep_sent_body=0&keep_failed_body=12h&keep_metadata=forever&busy_timeout=0.5")
    assert box.retention == Retention(sent_body=0.0, failed_body=12 * 3600.0, metadata=None)
    assert box.busy_timeout == 0.5


def test_durations():
    assert parse_duration("90") == 90.0
    assert parse_duration("15m") == 900.0
    assert parse_duration("2w") == 14 * DAY
    assert parse_duration("forever", allow_forever=True) is None
    with pytest.raises(ConfigurationError, match="or 'forever'"):
        parse_duration("-1d", allow_forever=True)
    with pytest.raises(ConfigurationError):
        Retention(metadata=float("nan"))
    assert Retention().describe() == "sent content 0s, failed content 1w, rows 30d"


def test_an_old_database_without_secure_delete_is_scrubbed_too(outbox_url):
    """Content written before this version (no secure_delete) is zeroed once retention drops it."""
    path = outbox_url.removeprefix("sqlite:///")
    open_outbox(outbox_url).close()
    raw = sqlite3.connect(path)
    raw.execute(
        "INSERT INTO outbox (id, message_id, state, payload, sender, recipients, subject, created_at, "
        "updated_at, age_from, due_at) VALUES ('old', '<m@x>', 'sent', ?, 'a@x', 'b@x', ?, ?, ?, ?, ?)",
        (f'{{"text": "{OTP}"}}', OTP, *[time.time()] * 4),
    )
    raw.commit()
    raw.close()
    box = open_outbox(outbox_url)
    assert box.enforce_retention() == (1, 0)
    assert not any(OTP.encode() in data for data in file_bytes(outbox_url).values())
