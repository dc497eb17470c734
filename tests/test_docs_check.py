"""tools/check_docs.py: docs must not point outside the repository (a clone has nothing there)."""

import importlib.util
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def check_docs(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("check_docs", REPO_ROOT / "tools" / "check_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    return module


@pytest.mark.parametrize(
    "text",
    [
        "schemas in `../shared/specs/mailgun_openapi.yaml`",
        "see [the spec](../../specs/x.json)",
        "the file /work/shared/DESIGN.md",
        "pyenv at /root/.pyenv/versions",
    ],
)
def test_a_reference_outside_the_repository_is_reported(check_docs, tmp_path, text):
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(f"# Page\n\n{text}\n")
    (problem,) = check_docs.outside_references([doc])
    assert "refers outside the repository" in problem and "docs/page.md" in problem


def test_references_inside_the_repository_pass(check_docs, tmp_path):
    (tmp_path / "README.md").write_text("# Readme\n")
    doc = tmp_path / "docs" / "page.md"
    doc.write_text("See [the README](../README.md), `specs/x.json` and sqlite:////var/lib/app/outbox.db.\n")
    assert check_docs.outside_references([doc]) == []


def test_the_real_docs_have_no_outside_reference():
    spec = importlib.util.spec_from_file_location("check_docs_real", REPO_ROOT / "tools" / "check_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.outside_references() == []
    assert module.broken_links() == []
