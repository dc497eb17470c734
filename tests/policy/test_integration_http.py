"""The policy over real HTTP peers: the SendGrid plugin against local sinks on 127.0.0.1."""

from __future__ import annotations

import pytest

# Runs in the nox "plugins" session, where every plugin is installed (the core session skips
# this file); a missing plugin is an error here, never a silent skip.
import mailcore_sendgrid  # noqa: F401
from mailcore import Mailer
from mailcore.errors import DeliveryFailed, TransientError
from mailcore.policy import CircuitOpen
from mailcore.testing.http_sink import HTTPSink, Reply, sendgrid_reply

from .conftest import FakeClock, make_message


@pytest.fixture
def sinks():
    with HTTPSink(default=sendgrid_reply) as primary, HTTPSink(default=sendgrid_reply) as backup:
        yield primary, backup


def mailer(primary, backup, clock, **options):
    url = f"failover(sendgrid://SG.key1@?endpoint_url={primary.url} sendgrid://SG.key2@?endpoint_url={backup.url})"
    return Mailer(url, state="memory://", clock=clock, sleep=clock.sleep, **options)


def test_server_errors_are_retried_then_the_backup_delivers(sinks):
    primary, backup = sinks
    clock = FakeClock()
    primary.script(Reply(503), Reply(503), Reply(503))
    result = mailer(primary, backup, clock, retry={"jitter": False}).send(make_message())
    assert primary.count == 3 and backup.count == 1
    assert all(isinstance(a.error, TransientError) for a in result.attempts[:3])
    assert result.attempts[-1].error is None and clock.sleeps == [0.5, 1.0]


def test_unauthorised_fails_over_at_once_and_parks_the_primary(sinks):
    primary, backup = sinks
    clock = FakeClock()
    primary.script(Reply(401, body={"errors": [{"message": "bad key"}]}))
    m = mailer(primary, backup, clock)
    m.send(make_message(0))
    second = m.send(make_message(1))
    assert primary.count == 1 and backup.count == 2
    assert isinstance(second.attempts[0].error, CircuitOpen)
    assert "SG.key1" not in repr(second.attempts)


def test_retry_after_from_a_429_is_honoured(sinks):
    primary, backup = sinks
    clock = FakeClock()
    primary.script(Reply(429, headers={"Retry-After": "7"}))
    result = mailer(primary, backup, clock).send(make_message())
    assert result.transport.startswith("sendgrid://") and backup.count == 0
    assert clock.sleeps == [7.0]


def test_a_bad_request_stops_without_trying_the_backup(sinks):
    primary, backup = sinks
    primary.script(Reply(400, body={"errors": [{"message": "invalid", "field": "content"}]}))
    with pytest.raises(DeliveryFailed):
        mailer(primary, backup, FakeClock()).send(make_message())
    assert backup.count == 0
