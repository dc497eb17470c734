"""The store-level lifetime tests of ``test_lifetimes.py`` (priority with aging, expiry at claim
time, idempotent enqueue, the CLI on expired rows), run again on the PostgreSQL outbox.

The functions are imported from that module and run with its ``open_outbox`` replaced by a
dispatch on the URL, and ``outbox_url`` naming the session's PostgreSQL database. The tests
there that reach into SQLite with SQL of their own have PostgreSQL counterparts in
``test_postgres.py`` (expiry, the idempotency window).
"""

from __future__ import annotations

import pytest
import test_lifetimes as shared
from conftest import open_store
from test_lifetimes import (  # noqa: F401 - collected here, on PostgreSQL
    msg,
    test_a_claim_never_hands_out_an_expired_row_and_moves_it_to_expired,
    test_a_low_message_that_waited_longer_than_two_agings_beats_a_new_high_one,
    test_a_parked_send_is_replayed_as_the_same_queued_result,
    test_a_transient_failure_past_the_expiry_is_not_parked,
    test_aging_sets_how_much_priority_counts_and_a_bad_aging_is_refused,
    test_claim_takes_high_then_normal_then_low,
    test_concurrent_enqueues_of_one_key_from_two_connections_store_it_once,
    test_enqueue_with_a_seen_key_returns_the_first_id_and_stores_nothing,
    test_mailer_enqueue_goes_through_the_store_key,
    test_the_claim_limit_is_kept_across_priorities,
    test_the_cli_lists_and_filters_expired_entries,
    test_the_policy_stops_retrying_at_the_expiry_and_the_worker_marks_it_expired,
)

from mailcore.outbox import OutboxStore

pytestmark = pytest.mark.service


@pytest.fixture(autouse=True)
def any_store(monkeypatch):
    """``open_outbox`` in the shared tests opens whatever store the URL names."""
    monkeypatch.setattr(shared, "open_outbox", lambda url=None, **options: open_store(url, **options))


@pytest.fixture
def outbox_url(pg_url):
    return pg_url


def test_the_postgresql_outbox_is_an_outbox_store(outbox_url):
    with open_store(outbox_url) as box:
        assert isinstance(box, OutboxStore)
        assert box.enqueue(msg(1)) in {entry.id for entry in box.entries()}
