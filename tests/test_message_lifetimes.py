"""Message lifetimes: priority, expires, idempotency_key — validation, serialization, replace."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore import InvalidMessage, Message
from mailcore.errors import ConfigurationError
from mailcore.outbox import lifetimes


def message(**fields):
    return Message("app@example.com", ["user@example.org"], "Your code", text="123456", **fields)


def test_defaults_are_normal_priority_no_expiry_no_key():
    m = message()
    assert (m.priority, m.expires, m.idempotency_key) == ("normal", None, None)
    data = m.to_dict()
    assert (data["priority"], data["expires"], data["idempotency_key"]) == ("normal", None, None)


@pytest.mark.parametrize("bad", ["urgent", "HIGH", "", None, 1])
def test_priority_must_be_high_normal_or_low(bad):
    with pytest.raises(InvalidMessage) as err:
        message(priority=bad)
    assert err.value.field == "priority"
    assert "'high'" in err.value.problem


def test_naive_expires_is_refused_with_a_hint():
    with pytest.raises(InvalidMessage) as err:
        message(expires=datetime(2030, 1, 1))
    assert err.value.field == "expires"
    assert "datetime.now(UTC) + timedelta(minutes=10)" in err.value.problem


def test_expires_is_normalized_to_utc_and_a_timedelta_counts_from_now():
    plus_two = timezone(timedelta(hours=2))
    m = message(expires=datetime(2030, 1, 1, 12, 0, tzinfo=plus_two))
    assert m.expires == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert m.expires.tzinfo is UTC
    before = datetime.now(UTC)
    m = message(expires=timedelta(minutes=10))
    after = datetime.now(UTC)
    assert before + timedelta(minutes=10) <= m.expires <= after + timedelta(minutes=10)


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-1), "2030-01-01T00:00:00Z", 1700000000, True])
def test_expires_refuses_non_positive_timedeltas_and_other_types(bad):
    with pytest.raises(InvalidMessage) as err:
        message(expires=bad)
    assert err.value.field == "expires"


def test_a_past_expiry_is_allowed_so_a_queued_message_can_be_read_back():
    past = datetime(2020, 1, 1, tzinfo=UTC)
    assert Message.from_dict(message(expires=past).to_dict()).expires == past


@pytest.mark.parametrize("bad", ["", "x" * 201, "a\r\nb", "tab\there", "clé", 12])
def test_idempotency_key_is_1_to_200_printable_ascii(bad):
    with pytest.raises(InvalidMessage) as err:
        message(idempotency_key=bad)
    assert err.value.field == "idempotency_key"
    if isinstance(bad, str) and bad:
        assert bad not in str(err.value)  # the key is not echoed


def test_replace_keeps_the_lifetime_fields_and_can_change_them():
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    m = message(priority="high", expires=expiry, idempotency_key="order-42")
    kept = m.replace(subject="Again")
    assert (kept.priority, kept.expires, kept.idempotency_key) == ("high", expiry, "order-42")
    assert m.replace(priority="low").priority == "low"
    with pytest.raises(InvalidMessage):
        m.replace(priority="urgent")


def test_old_serialized_messages_without_the_fields_still_load():
    data = message().to_dict()
    for key in ("priority", "expires", "idempotency_key"):
        del data[key]
    assert Message.from_dict(data).priority == "normal"


def test_from_dict_refuses_a_malformed_expiry_string():
    data = message().to_dict()
    data["expires"] = "next tuesday"
    with pytest.raises(InvalidMessage) as err:
        Message.from_dict(data)
    assert err.value.field == "expires"


aware = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
)  # fmt: skip


@given(
    priority=st.sampled_from(["high", "normal", "low"]),
    expires=st.none() | aware,
    key=st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200),
)
def test_lifetime_fields_round_trip_through_json(priority, expires, key):
    try:
        m = message(priority=priority, expires=expires, idempotency_key=key)
    except InvalidMessage as error:  # only an instant outside UTC's range may be refused
        assert error.field == "expires"
        return
    again = Message.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again == m
    assert (again.priority, again.idempotency_key) == (priority, key)
    # the same instant, kept in UTC (timestamps: PEP 495 makes ambiguous local times unequal across zones)
    assert (again.expires is None) == (expires is None)
    if expires is not None:
        assert again.expires.tzinfo is UTC
        assert again.expires.timestamp() == expires.timestamp()


@given(text=st.text(max_size=220))
def test_any_key_is_either_accepted_unchanged_or_refused_as_invalid(text):
    try:
        m = message(idempotency_key=text)
    except InvalidMessage as error:
        assert error.field == "idempotency_key"
        assert not (1 <= len(text) <= 200 and all(" " <= c <= "~" for c in text))
    else:
        assert m.idempotency_key == text


# -- mailcore.outbox.lifetimes --------------------------------------------------------------


def test_claim_key_ages_low_past_high():
    aging = lifetimes.DEFAULT_AGING
    now = 1_000_000.0
    high_now = lifetimes.claim_key(now, lifetimes.PRIORITY_RANK["high"], aging)
    normal_now = lifetimes.claim_key(now, lifetimes.PRIORITY_RANK["normal"], aging)
    low_10min_ago = lifetimes.claim_key(now - 600 - 1, lifetimes.PRIORITY_RANK["low"], aging)
    assert high_now < normal_now
    assert low_10min_ago < high_now
    assert lifetimes.PRIORITY_RANK == {"high": 0, "normal": 1, "low": 2}
    assert lifetimes.priority_rank("bogus") == 1


def test_expiry_helpers():
    expiry = datetime(2026, 11, 30, 22, 10, tzinfo=UTC)
    at = lifetimes.expires_at(message(expires=expiry))
    assert at == expiry.timestamp()
    assert lifetimes.expires_at(message()) is None
    assert not lifetimes.is_expired(None, 1e12)
    assert not lifetimes.is_expired(at, at - 0.001)
    assert lifetimes.is_expired(at, at)
    assert lifetimes.expiry_reason(at) == "expired at 2026-11-30T22:10:00Z before delivery"
    assert lifetimes.IDEMPOTENCY_WINDOW == 86400.0


@pytest.mark.parametrize("bad", ["soon", -1, float("nan"), float("inf"), True, None])
def test_aging_must_be_finite_and_non_negative(bad):
    with pytest.raises(ConfigurationError, match="aging"):
        lifetimes.check_aging(bad)


def test_aging_and_window_accept_text_from_urls():
    assert lifetimes.check_aging("0") == 0.0
    assert lifetimes.check_aging("300") == 300.0
    assert lifetimes.check_window("60") == 60.0
    with pytest.raises(ConfigurationError, match="window"):
        lifetimes.check_window("0")
