"""pytest plugin shipped with mailcore (entry point ``pytest11``).

Fixtures:

``mail_outbox``
    the list behind ``memory://default``, emptied before and after each test.
``memory_mailer``
    a :class:`mailcore.Mailer` sending to ``memory://default``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailcore.mailer import Mailer
from mailcore.message import Message
from mailcore.testing import clear_outboxes, outbox


@pytest.fixture
def mail_outbox() -> Iterator[list[Message]]:
    clear_outboxes()
    yield outbox("default")
    clear_outboxes()


@pytest.fixture
def memory_mailer(mail_outbox: list[Message]) -> Iterator[Mailer]:
    with Mailer("memory://default", from_email="tests@example.com") as mailer:
        yield mailer
