"""Address and header validation, identical on every supported Python (CVE-2023-27043, CVE-2024-6923)."""

import pytest

from mailcore import Address, InvalidMessage, Message

BAD_ADDRESSES = [
    "a@",
    "@example.com",
    "a@@b.com",
    "a b@example.com",
    "ab@example.com.",
    "ab.@example.com",
    ".ab@example.com",
    "a..b@example.com",
    "alice@example.org)<bob@example.org>",
    "alice@example.org, bob@example.org",
    "Alice <alice@example.org",
    "Alice alice@example.org>",
    "a@-example.com",
    "a@example..com",
    "a@localhost.",
    "noatsign",
    "",
    "a@b",
]

INJECTIONS = [
    "Alice\r\nBcc: x@example.com <alice@example.org>",
    "=?UTF-8?Q?=0A?=Bcc: x@example.com <alice@example.org>",
    "=?utf-8?b?Cg==?= <alice@example.org>",
    "Alice\x00 <alice@example.org>",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_malformed_addresses_are_rejected_naming_the_field(address):
    with pytest.raises(InvalidMessage) as caught:
        Message("app@example.com", ["ok@example.org", address], "s", text="t")
    assert caught.value.field == "to[1]"


@pytest.mark.parametrize("address", INJECTIONS)
def test_header_injection_in_display_names_is_rejected(address):
    with pytest.raises(InvalidMessage, match=r"line break|control"):
        Message("app@example.com", [address], "s", text="t")


@pytest.mark.parametrize(
    "subject",
    ["Hi\r\nBcc: x@example.com", "Hi\nthere", "=?UTF-8?Q?=0A?=Bcc: x@example.com", "a\u2028b", "tab\x0bvt"],
)
def test_header_injection_in_subject_is_rejected(subject):
    with pytest.raises(InvalidMessage) as caught:
        Message("app@example.com", ["b@example.org"], subject, text="t")
    assert caught.value.field == "subject"


def test_header_injection_in_custom_header_is_rejected():
    with pytest.raises(InvalidMessage, match=r"headers\['X-Tag'\]"):
        Message("app@example.com", ["b@example.org"], "s", text="t", headers={"X-Tag": "a\r\nBcc: c@example.com"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.org", Address("alice@example.org")),
        ("Alice <alice@example.org>", Address("alice@example.org", "Alice")),
        ('"Doe, John" <john@example.org>', Address("john@example.org", "Doe, John")),
        ('"Say \\"hi\\"" <q@example.org>', Address("q@example.org", 'Say "hi"')),
        ("Zoë <zoe@exämple.org>", Address("zoe@exämple.org", "Zoë")),
        (("Bob", "bob@example.org"), Address("bob@example.org", "Bob")),
        ("user+tag@localhost", Address("user+tag@localhost")),
    ],
)
def test_valid_addresses_parse(raw, expected):
    assert Message("app@example.com", [raw], "s", text="t").to[0] == expected


def test_idn_domain_has_an_a_label():
    assert Address("zoe@exämple.org").ascii_email == "zoe@xn--exmple-cua.org"


def test_utf8_local_part_needs_smtputf8():
    address = Address("zoë@example.org")
    assert address.needs_smtputf8
    with pytest.raises(InvalidMessage, match="SMTPUTF8"):
        _ = address.ascii_email


def test_unquoted_display_name_with_specials_explains_quoting():
    with pytest.raises(InvalidMessage, match="double quotes"):
        Message("app@example.com", ["Doe, John <john@example.org>"], "s", text="t")
