import pytest
from postgres_fixtures import pg_database, pg_fresh_database, pg_url, store_url  # noqa: F401 - fixtures

from mailcore import plugins
from mailcore.policy.state import clear_shared_stores
from mailcore.testing import clear_outboxes


@pytest.fixture(autouse=True)
def _fresh_outboxes():
    clear_outboxes()
    clear_shared_stores()  # process-wide breakers, limits and idempotency keys
    yield
    clear_outboxes()
    clear_shared_stores()


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Reload plugins for one test (after installing a distribution or setting the env)."""
    plugins.reset()
    yield monkeypatch
    plugins.reset()
