"""The events SQL seam: neutral SQL rendered for SQLite and PostgreSQL (pure), and which stores
keep events."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore.errors import ConfigurationError
from mailcore.outbox.eventsql import POSTGRESQL, SQLITE, event_db, has_events, open_event_store, render


def test_tables_parameters_and_locks_per_dialect() -> None:
    sql = "SELECT seq FROM {events} WHERE a = ? AND b LIKE 'x%' ORDER BY seq LIMIT ?{skip_locked}"
    assert render(sql, SQLITE) == "SELECT seq FROM delivery_events WHERE a = ? AND b LIKE 'x%' ORDER BY seq LIMIT ?"
    assert render(sql, POSTGRESQL) == (
        "SELECT seq FROM mailcore_delivery_events WHERE a = %s AND b LIKE 'x%%' ORDER BY seq LIMIT %s "
        "FOR UPDATE SKIP LOCKED"
    )
    assert render("DELETE FROM {outbox} WHERE x = '?'", POSTGRESQL) == "DELETE FROM mailcore_outbox WHERE x = '?'"
    assert render("SELECT 1 FROM {suppressions}{key_share}", POSTGRESQL).endswith("mailcore_suppressions FOR KEY SHARE")


fragments = st.lists(
    st.sampled_from(["SELECT", " a ", "= ?", "?", "%", "'it''s'", "'50%?'", ",", "x_y", "\\", "{events}"]), max_size=20
)


@given(fragments)
def test_postgresql_text_reads_back_as_the_sqlite_text(parts) -> None:
    """Whatever the neutral SQL holds (literals with ? and %, doubled quotes), the PostgreSQL form
    is the SQLite form with each parameter as %s and each % doubled, and nothing else changed."""
    sql = "".join(parts)
    lite, pg = render(sql, SQLITE), render(sql, POSTGRESQL)
    placeholders = len(re.findall(r"(?<!%)%s", pg.replace("%%", "")))
    outside = sum(part.count("?") for part in parts if not part.startswith("'"))
    assert placeholders == outside
    back = re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else "?", pg)
    assert back == lite.replace("delivery_events", "mailcore_delivery_events")


def test_only_sqlite_and_postgresql_stores_keep_events(tmp_path) -> None:
    with open_event_store(f"sqlite:///{tmp_path / 'o.sqlite3'}") as box:
        assert has_events(box) and event_db(box).dialect is SQLITE
    assert not has_events(object())
    with pytest.raises(ConfigurationError, match="SQLite or PostgreSQL outbox; the 'celery' queue is neither"):
        open_event_store("celery")
