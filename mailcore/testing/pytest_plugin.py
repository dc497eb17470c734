"""pytest plugin shipped with mailcore (entry point ``pytest11``).

Fixtures:

``mail_outbox``
    the list behind ``memory://default``, emptied before and after each test; process-wide
    policy state (breakers and limits in ``memory://NAME`` stores, e.g. the Django backend's)
    is reset too, so a test that trips a breaker never affects the next one.
``memory_mailer``
    a :class:`mailcore.Mailer` sending to ``memory://default``.

And, for every test, the process-wide shared Mailers (:mod:`mailcore.shared`, behind
``mailcore.send_mail`` and the Django backend) are closed after it, so a scripted transport
(``memory://?fail=1``) or an open connection from one test never serves the next.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from mailcore.mailer import Mailer
from mailcore.message import Message
from mailcore.testing import clear_outboxes, outbox


@pytest.fixture
def mail_outbox() -> Iterator[list[Message]]:
    from mailcore.policy.state import clear_shared_stores

    clear_outboxes()
    clear_shared_stores()
    yield outbox("default")
    clear_outboxes()
    clear_shared_stores()


@pytest.fixture
def memory_mailer(mail_outbox: list[Message]) -> Iterator[Mailer]:
    with Mailer("memory://default", from_email="tests@example.com") as mailer:
        yield mailer


@pytest.fixture(autouse=True)
def _mailcore_fresh_shared_mailers() -> Iterator[None]:
    yield
    shared = sys.modules.get("mailcore.shared")
    if shared is not None:
        shared.close_all()
