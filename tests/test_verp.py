"""VERP tokens: safe characters, bounded length, reversible, robust against hostile addresses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcore import Message
from mailcore.errors import ConfigurationError
from mailcore.verp import MAX_LOCAL_PART, matches, parse_verp, verp_address, verp_for, with_verp

#: What a token may contain: lower-case dot-atom text every MTA accepts.
SAFE_LOCAL = re.compile(r"[a-z0-9=_\-]+(?:\.[a-z0-9=_\-]+)*\+[a-z0-9=_\-]+(?:\.[a-z0-9=_\-]+)*")
ID_TEXT = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="<>@"), min_size=1, max_size=60
)


def local_of(address: str) -> str:
    return address.rpartition("@")[0]


def test_default_message_gets_its_id_and_recipient() -> None:
    message = Message("app@example.com", ["user@example.org"], "s", text="t")
    address = verp_for("bounces@example.com", message)
    assert address == f"bounces+m{message.correlation_id.split('@')[0]}_ruser=example.org@example.com"
    token = parse_verp(address)
    assert token is not None
    assert (token.correlation_id, token.recipient, token.base) == (
        message.correlation_id,
        "user@example.org",
        "bounces@example.com",
    )


def test_several_recipients_carry_no_recipient() -> None:
    message = Message("app@example.com", ["a@example.org", "b@example.org"], "s", text="t")
    token = parse_verp(verp_for("bounces@example.com", message))
    assert token is not None and token.recipient is None and token.correlation_id == message.correlation_id


def test_with_verp_sets_the_envelope_sender_only() -> None:
    message = Message("app@example.com", ["user@example.org"], "s", text="t")
    sent = with_verp(message, "bounces@example.com")
    assert sent.envelope_from is not None and sent.envelope_from.email.startswith("bounces+m")
    assert sent.message_id == message.message_id and sent.from_email == message.from_email


def test_a_long_id_becomes_a_digest_that_matches_only_its_id() -> None:
    long_id = "x" * 200 + "@example.com"
    address = verp_address("bounces@example.com", long_id, "user@example.org")
    assert len(local_of(address)) <= MAX_LOCAL_PART
    token = parse_verp(address)
    assert token is not None and token.correlation_id is None and token.digest
    assert matches(token, long_id) and not matches(token, "y" + long_id[1:])


@pytest.mark.parametrize(
    "base",
    ["not an address", "bounces+x@example.com", "Bounces <b@example.com>", "bö@example.com", "a" * 40 + "@example.com"],
)
def test_bad_bases_are_configuration_errors(base) -> None:
    with pytest.raises(ConfigurationError, match="verp"):
        verp_address(base, "id@example.com")


@pytest.mark.parametrize(
    "address",
    [
        "",
        "bounces@example.com",
        "bounces+@example.com",
        "bounces+m@example.com",
        "bounces+x123@example.com",
        "bounces+m_zz@example.com",
        "bounces+m_c3@example.com",  # a lone UTF-8 lead byte
        "bounces+habc@example.com",  # a digest of the wrong length
        "bounces+mabc_rnot-an-address@example.com",
        "+mabc@example.com",
        "bounces+mabc",
        "x" * 10_000,
    ],
)
def test_foreign_or_broken_addresses_carry_no_token(address) -> None:
    assert parse_verp(address) is None


@settings(max_examples=400, deadline=None)
@given(
    left=ID_TEXT,
    domain=st.sampled_from(["example.com", "Shop.Example.COM", "mail.example.net", "x.y"]),
    recipient=st.none() | st.emails(),
    base_local=st.from_regex(r"[a-z][a-z0-9.\-]{0,19}", fullmatch=True).filter(
        lambda s: ".." not in s and not s.endswith(".")
    ),
)
def test_round_trip_safe_and_bounded(left, domain, recipient, base_local) -> None:
    correlation_id = f"{left}@{domain}"
    address = verp_address(f"{base_local}@example.com", correlation_id, recipient)
    local = local_of(address)
    assert len(local) <= MAX_LOCAL_PART
    assert SAFE_LOCAL.fullmatch(local), local
    for received in (address, address.upper(), f"<{address}>"):  # MTAs fold case, headers add <>
        token = parse_verp(received)
        assert token is not None
        assert matches(token, correlation_id)
        if token.correlation_id is not None:
            assert token.correlation_id == correlation_id
        if token.recipient is not None:
            assert token.recipient == recipient
            assert recipient is not None


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(text) -> None:
    token = parse_verp(text)
    assert token is None or token.base.count("@") == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_parse_of_arbitrary_tokens_never_raises(token, domain) -> None:
    parse_verp(f"bounces+{token}@{domain}")
