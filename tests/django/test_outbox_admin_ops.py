"""DjangoOutbox.cancel and purge_rows (the admin's cancel and purge actions) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from outbox_rows import a_message

from mailcore.adapters.django.models import OutboxMessage
from mailcore.adapters.django.outbox import DjangoOutbox


@pytest.fixture
def store(database) -> DjangoOutbox:
    return DjangoOutbox(database)


def states(store, ids):
    rows = OutboxMessage.objects.using(store.using).filter(id__in=ids)
    return {row.id: (row.state, row.last_error) for row in rows}


def rows_in(store, wanted):
    """One enqueued row per wanted state, moved there through the store's own methods."""
    ids = {}
    for state in sorted(wanted, key=lambda s: s == "queued"):  # queued last: each claim takes every due row
        id = store.enqueue(a_message(f"{state}@example.com"))
        ids[state] = id
        if state == "queued":
            continue
        (claim,) = [c for c in store.claim("w", limit=10, lease=60) if c.id == id]
        if state == "sent":
            store.mark_sent(claim.id, transport="smtp://relay", provider_message_id=None)
        elif state in ("failed", "unknown", "expired"):
            getattr(store, f"mark_{state}")("w", claim.id, f"{state} for the test")
    return ids


def test_cancel_finishes_queued_and_unknown_rows_only(store):
    ids = rows_in(store, ["queued", "sending", "sent", "failed", "unknown", "expired"])
    assert store.cancel(list(ids.values()), reason="cancelled by ada") == 2
    after = states(store, list(ids.values()))
    assert after[ids["queued"]] == ("failed", "cancelled by ada")
    assert after[ids["unknown"]] == ("failed", "cancelled by ada")
    assert after[ids["sending"]][0] == "sending" and after[ids["sent"]][0] == "sent"
    assert after[ids["failed"]] == ("failed", "failed for the test")
    assert after[ids["expired"]] == ("expired", "expired for the test")
    assert store.claim("w2", limit=10, lease=60) == []  # a cancelled row is never claimed
    assert store.retry(ids=[ids["queued"]]) == 1  # retry undoes a cancel
    assert store.cancel([], reason="x") == 0


def test_purge_rows_deletes_finished_rows_only(store):
    ids = rows_in(store, ["queued", "sending", "sent", "failed", "unknown", "expired"])
    assert store.purge_rows(list(ids.values())) == 4
    left = set(OutboxMessage.objects.using(store.using).values_list("state", flat=True))
    assert left == {"queued", "sending"}
    assert store.purge_rows([]) == 0
