import pytest

from mailcore import plugins
from mailcore.testing import clear_outboxes


@pytest.fixture(autouse=True)
def _fresh_outboxes():
    clear_outboxes()
    yield
    clear_outboxes()


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Reload plugins for one test (after installing a distribution or setting the env)."""
    plugins.reset()
    yield monkeypatch
    plugins.reset()
