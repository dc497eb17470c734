"""The deliberate differences in tools/django_suite.py and the table in docs/django.md agree."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_harness():
    spec = importlib.util.spec_from_file_location("django_suite", ROOT / "tools" / "django_suite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_deliberate_difference_is_in_the_docs_table_and_back():
    harness = load_harness()
    doc = (ROOT / "docs" / "django.md").read_text(encoding="utf-8")
    table = doc[doc.index("Every remaining difference is deliberate") :]
    table = table[: table.index("\n\n", table.index("| Django's tests |"))]
    documented = {word.strip("`,") for line in table.splitlines()[2:] for word in line.split("|")[1].split()}
    documented = {name for name in documented if name.startswith("test_")}
    assert documented == set(harness.DELIBERATE)
    for reason, effect in harness.DELIBERATE.values():
        assert reason and effect  # each with its reason and what a user sees
    assert not set(harness.DELIBERATE) & set(harness.NOT_APPLICABLE)
