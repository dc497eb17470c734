"""VERP end to end: send through the SMTP plugin with ``?verp=`` to a real aiosmtpd, build the
RFC 3464 bounce a receiving MTA would return to that envelope sender, ingest it with
``mailcore events ingest-dsn`` and check the event names the message that was sent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mailcore import Mailer, Message
from mailcore.cli import cli
from mailcore.errors import ConfigurationError
from mailcore.events import EventKind
from mailcore.testing.dsn import Recipient, build_dsn
from mailcore.testing.webhooks import captured_events
from mailcore.verp import parse_verp
from mailcore_smtp.settings import SMTPSettings
from mailcore_smtp.transport import SMTPTransport

BOUNCES = "bounces@example.com"


@pytest.fixture
def captured(tmp_path):
    """Events reaching the mailcore_delivery_event hook through the real dispatch path (stored,
    then handled in the background): ``captured.seen()`` waits for the handler."""
    with captured_events(tmp_path / "events.sqlite3") as capture:
        yield capture


def test_bounce_of_a_verp_message_correlates_to_it(aio, captured) -> None:
    message = Message("shop@example.com", ["gone@example.org"], "Your receipt", text="Total: 12.00")
    with Mailer([aio.url(verp=BOUNCES)]) as mailer:
        result = mailer.send(message)
    [got] = aio.handler.messages
    token = parse_verp(got["mail_from"])
    assert token is not None and got["mail_from"].startswith("bounces+m")
    # the receiving MTA refuses the recipient later and bounces to MAIL FROM, returning only a
    # status report (no headers): VERP alone must correlate it
    dsn = build_dsn(got["data"], [Recipient("gone@example.org")], to=got["mail_from"], returned="none")
    outcome = CliRunner().invoke(
        cli, ["events", "ingest-dsn", "-q"], input=dsn, env={"ORIGINAL_RECIPIENT": "", "RECIPIENT": ""}
    )
    assert outcome.exit_code == 0, outcome.output
    [event] = captured.seen()
    assert event.kind is EventKind.BOUNCED and event.bounce_type == "hard"
    assert event.message_id == result.message_id == message.message_id
    assert event.recipient == "gone@example.org"


def test_several_recipients_and_an_explicit_envelope_sender(aio) -> None:
    transport = SMTPTransport(aio.url(verp=BOUNCES))
    many = Message("shop@example.com", ["a@example.org", "b@example.org"], "s", text="t")
    chosen = Message("shop@example.com", ["a@example.org"], "s", text="t", envelope_from="owner@example.com")
    transport.send(many)
    transport.send(chosen)
    first, second = aio.handler.messages
    token = parse_verp(first["mail_from"])
    assert token is not None and token.correlation_id == many.correlation_id and token.recipient is None
    assert second["mail_from"] == "owner@example.com"  # the message's own envelope sender wins


def test_utf8_recipient_keeps_an_ascii_verp_sender(aio) -> None:
    message = Message("shop@example.com", ["jü@example.org"], "s", text="t")
    SMTPTransport(aio.url(verp=BOUNCES)).send(message)
    [got] = aio.handler.messages
    assert got["mail_from"].isascii()
    token = parse_verp(got["mail_from"])
    assert token is not None and token.recipient == "jü@example.org"


@pytest.mark.parametrize("base", ["bounces+x@example.com", "not-an-address", "b\u00f6@example.com"])
def test_bad_verp_parameter_is_a_configuration_error(base) -> None:
    from mailcore.config import parse_url

    with pytest.raises(ConfigurationError, match="verp"):
        SMTPSettings.from_url(parse_url(f"smtp://127.0.0.1:2525?verp={base}"))
