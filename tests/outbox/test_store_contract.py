"""The SQLite outbox against the store contract every backend (PostgreSQL, Django's database) runs."""

from __future__ import annotations

import pytest

from mailcore.outbox import open_outbox
from mailcore.testing.outbox_contract import OutboxStoreContract


class TestSQLiteStoreContract(OutboxStoreContract):
    @pytest.fixture
    def store(self, outbox_url):
        with open_outbox(outbox_url) as store:
            yield store
