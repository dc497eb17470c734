"""RFC 3464 DSN parsing: generated reports, Postfix- and Exim-format samples, hostile input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcore import Message
from mailcore.dsn import MAX_DSN_BYTES, MAX_RECIPIENTS, PROVIDER, parse_dsn
from mailcore.events import DeliveryEvent, EventKind
from mailcore.render import render
from mailcore.testing.dsn import Recipient, build_dsn
from mailcore.verp import verp_address, verp_for

DATA = Path(__file__).parent / "data" / "dsn"
MESSAGE = Message("app@example.com", ["user@example.org"], "Your code", text="Your code is 987654")
SENT = render(MESSAGE)
VERP = verp_for("bounces@example.com", MESSAGE)


def one(raw: bytes, **kwargs) -> DeliveryEvent:
    [event] = parse_dsn(raw, **kwargs)
    return event


@pytest.mark.parametrize(
    ("action", "status", "kind", "bounce_type"),
    [
        ("failed", "5.1.1", EventKind.BOUNCED, "hard"),
        ("failed", "5.7.1", EventKind.BOUNCED, "hard"),
        ("failed", "4.4.7", EventKind.BOUNCED, "soft"),
        ("Failed", "5.0.0 (permanent)", EventKind.BOUNCED, "hard"),
        ("failed", "", EventKind.BOUNCED, "soft"),  # no status: never a hard bounce on a guess
        ("delayed", "4.4.1", EventKind.DEFERRED, None),
        ("delivered", "2.0.0", EventKind.DELIVERED, None),
        ("relayed", "2.0.0", EventKind.DELIVERED, None),
        ("expanded", "2.0.0", EventKind.DELIVERED, None),
        ("exploded", "5.1.1", EventKind.UNKNOWN, None),
    ],
)
def test_action_and_status_map_to_kinds(action, status, kind, bounce_type) -> None:
    event = one(build_dsn(SENT, [Recipient("user@example.org", action, status)], to=VERP))
    assert (event.kind, event.bounce_type) == (kind, bounce_type)
    assert event.provider == PROVIDER
    assert event.recipient == "user@example.org"
    assert event.correlation_id == MESSAGE.correlation_id
    assert event.message_id == MESSAGE.message_id


def test_fields_of_a_generated_report() -> None:
    attempt = datetime(2026, 11, 30, 13, 30, tzinfo=UTC)
    raw = build_dsn(SENT, [Recipient("user@example.org", last_attempt=attempt)], to=VERP)
    event = one(raw)
    assert event.diagnostic == "550 5.1.1 <user@example.org>: Recipient address rejected: User unknown"
    assert event.reason == "5.1.1"
    assert event.timestamp == attempt  # Last-Attempt-Date wins over Arrival-Date
    assert event.raw["remote_mta"] == "mx.example.org"
    assert event.raw["reporting_mta"] == "mx.example.org"
    assert event.provider_event_id and event.provider_event_id.endswith("/0")
    assert "987654" not in repr(dict(event.raw))  # the returned body is never kept


def test_several_recipients_give_one_event_each_in_order() -> None:
    recipients = [
        Recipient("a@example.org"),
        Recipient("b@example.org", "delayed", "4.4.1", None),
        Recipient("c@example.org", "delivered", "2.0.0", None),
    ]
    events = parse_dsn(build_dsn(SENT, recipients, to=VERP))
    assert [(e.recipient, e.kind) for e in events] == [
        ("a@example.org", EventKind.BOUNCED),
        ("b@example.org", EventKind.DEFERRED),
        ("c@example.org", EventKind.DELIVERED),
    ]
    assert len({e.provider_event_id for e in events}) == 3
    assert all(e.correlation_id == MESSAGE.correlation_id for e in events)


def test_the_same_dsn_gives_the_same_event_ids() -> None:
    raw = build_dsn(SENT, [Recipient("user@example.org")], to=VERP)
    assert [e.provider_event_id for e in parse_dsn(raw)] == [e.provider_event_id for e in parse_dsn(raw)]


@pytest.mark.parametrize("returned", ["headers", "message"])
def test_without_verp_the_returned_message_correlates(returned) -> None:
    raw = build_dsn(SENT, [Recipient("user@example.org")], to="bounces@example.com", returned=returned)
    assert one(raw).correlation_id == MESSAGE.correlation_id


def test_verp_wins_over_returned_headers_and_works_without_them() -> None:
    other = Message("app@example.com", ["x@example.org"], "other", text="x")
    raw = build_dsn(render(other), [Recipient("user@example.org")], to=VERP)
    assert one(raw).correlation_id == MESSAGE.correlation_id
    raw = build_dsn(SENT, [Recipient("user@example.org")], to=VERP, returned="none")
    assert one(raw).correlation_id == MESSAGE.correlation_id


def test_envelope_to_argument_carries_the_token() -> None:
    raw = build_dsn(SENT, [Recipient("user@example.org")], to="bounces@example.com", returned="none")
    assert one(raw).correlation_id is None
    assert one(raw, envelope_to=VERP.upper()).correlation_id == MESSAGE.correlation_id  # MTAs fold case


def test_digest_token_is_checked_against_the_returned_id() -> None:
    long_id = "<" + "a" * 120 + "@example.com>"
    message = Message("app@example.com", ["user@example.org"], "s", text="t", message_id=long_id)
    address = verp_for("bounces@example.com", message)
    assert "+h" in address
    raw = build_dsn(render(message), [Recipient("user@example.org")], to=address)
    assert one(raw).correlation_id == message.correlation_id
    # the returned headers belong to another message: the digest does not match, no guess
    raw = build_dsn(SENT, [Recipient("user@example.org")], to=address)
    assert one(raw).correlation_id is None


def test_postfix_sample() -> None:
    event = one((DATA / "postfix-bounce.eml").read_bytes())
    assert event.kind is EventKind.BOUNCED and event.bounce_type == "hard"
    assert event.recipient == "nobody@example.org"
    assert event.correlation_id == "7c3a9e0d2b1f4e6a8d5c0b9a1e2f3d4c@shop.example.com"
    assert event.provider_message_id == "4A1B2C3D4E"  # the relay's queue id, as SendResult has it
    assert event.diagnostic == (
        "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert event.raw["remote_mta"] == "mx.example.org"
    assert event.raw["original_recipient"] == "rfc822;nobody@example.org"
    assert event.timestamp == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Arrival-Date
    assert event.provider_event_id == "20261130120007.5B6C7D8E9F@relay.example.net/0"


def test_exim_sample_correlates_through_the_returned_message() -> None:
    event = one((DATA / "exim-bounce.eml").read_bytes())
    assert event.kind is EventKind.BOUNCED and event.bounce_type == "hard"
    assert event.recipient == "gone@example.org"
    assert event.correlation_id == "0f1e2d3c4b5a69788796a5b4c3d2e1f0@shop.example.com"
    assert event.reason == "5.0.0"
    assert event.timestamp == datetime(2026, 11, 30, 12, 15, 9, tzinfo=UTC)  # Date +0100, in UTC
    assert "424242" not in repr(event) + repr(dict(event.raw))


def test_not_a_dsn_is_kept_as_unknown_with_its_verp_correlation() -> None:
    raw = f"From: MAILER-DAEMON@x.example\nTo: {VERP}\nSubject: failure notice\n\nSorry.\n".encode()
    event = one(raw)
    assert event.kind is EventKind.UNKNOWN
    assert event.correlation_id == MESSAGE.correlation_id
    assert event.recipient == "user@example.org"  # from the token: a single-recipient message
    assert "not an RFC 3464" in (event.reason or "")


def test_report_without_recipient_blocks_is_unknown() -> None:
    raw = build_dsn(SENT, [], to=VERP)
    event = one(raw)
    assert event.kind is EventKind.UNKNOWN and event.correlation_id == MESSAGE.correlation_id


def test_oversized_input_is_not_parsed() -> None:
    event = one(b"x" * (MAX_DSN_BYTES + 1))
    assert event.kind is EventKind.UNKNOWN and "not parsed" in (event.reason or "")


def test_recipient_blocks_are_capped() -> None:
    recipients = [Recipient(f"r{i}@example.org") for i in range(MAX_RECIPIENTS + 5)]
    events = parse_dsn(build_dsn(SENT, recipients, to=VERP))
    assert len(events) == MAX_RECIPIENTS + 1
    assert events[-1].kind is EventKind.UNKNOWN and "not read" in (events[-1].reason or "")


def test_deeply_nested_multiparts_do_not_crash() -> None:
    depth = 5000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
    event = one(("MIME-Version: 1.0\n" + head + "\nhello\n").encode())
    assert event.kind is EventKind.UNKNOWN


def test_naive_and_broken_dates_fall_back_sanely() -> None:
    raw = build_dsn(SENT, [Recipient("user@example.org")], to=VERP).replace(
        b"Arrival-Date: Mon, 30 Nov 2026 12:00:00 +0000", b"Arrival-Date: not a date at all"
    )
    received = datetime(2027, 1, 1, tzinfo=UTC)
    event = one(raw, received_at=received)
    assert event.timestamp.tzinfo is not None
    assert event.timestamp == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the DSN's Date header
    event = one(b"\n\n", received_at=received)
    assert event.timestamp == received


# -- properties -------------------------------------------------------------------------------

actions = st.sampled_from(["failed", "delayed", "delivered", "relayed", "expanded", "weird", ""])
printable = st.characters(min_codepoint=32, max_codepoint=126)
statuses = st.from_regex(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True) | st.text(printable, max_size=12)
recipients = st.builds(
    Recipient,
    address=st.emails(),
    action=actions,
    status=statuses,
    diagnostic=st.none() | st.text(printable, max_size=200),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(recipients, max_size=6))
def test_every_recipient_block_gives_exactly_one_event(blocks) -> None:
    events = parse_dsn(build_dsn(SENT, blocks, to=VERP))
    if not blocks:
        assert [e.kind for e in events] == [EventKind.UNKNOWN]
        return
    assert len(events) == len(blocks)
    for block, event in zip(blocks, events, strict=True):
        assert event.correlation_id == MESSAGE.correlation_id
        assert event.timestamp.tzinfo is UTC
        expected = {"failed": EventKind.BOUNCED, "delayed": EventKind.DEFERRED}.get(block.action.lower())
        if block.action in ("delivered", "relayed", "expanded"):
            expected = EventKind.DELIVERED
        assert event.kind is (expected or EventKind.UNKNOWN)
        if event.kind is EventKind.BOUNCED:
            status = re.search(r"([245])\.\d{1,3}\.\d{1,3}", block.status)
            assert event.bounce_type == ("hard" if status and status.group(1) == "5" else "soft")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise_and_always_give_an_event(raw) -> None:
    events = parse_dsn(raw)
    assert events and all(isinstance(e, DeliveryEvent) for e in events)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4000), st.binary(min_size=1, max_size=64))
def test_mutated_reports_never_raise(position, junk) -> None:
    raw = bytearray(
        build_dsn(SENT, [Recipient("user@example.org"), Recipient("b@example.org", "delayed", "4.4.1")], to=VERP)
    )
    position %= len(raw)
    raw[position : position + len(junk)] = junk
    events = parse_dsn(bytes(raw))
    assert events
    for event in events:
        assert event.kind in set(EventKind)
        assert "987654" not in repr(event) + repr(dict(event.raw))


def test_verp_address_of_a_different_domain_still_correlates() -> None:
    address = verp_address("bounces@mail.example.net", MESSAGE.correlation_id)
    raw = build_dsn(SENT, [Recipient("user@example.org")], to=address, returned="none")
    assert one(raw).correlation_id == MESSAGE.correlation_id
