"""The provider specs the schema tests use are vendored in specs/ and match their published sha256."""

import hashlib
import re
from pathlib import Path

from mailcore.testing.specs import spec_file, specs_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \|.*\| `(?P<sha>[0-9a-f]{64})` \|$", re.MULTILINE)


def _table() -> dict[str, str]:
    return {m["file"]: m["sha"] for m in ROW.finditer((REPO_ROOT / "specs" / "README.md").read_text())}


def test_every_vendored_spec_matches_the_sha256_in_its_readme():
    table = _table()
    assert set(table) == {"sendgrid_tsg_mail_v3.json", "mailgun_openapi.yaml"}
    for name, expected in table.items():
        assert hashlib.sha256((REPO_ROOT / "specs" / name).read_bytes()).hexdigest() == expected, name


def test_the_licence_texts_are_vendored_beside_the_specs():
    licences = REPO_ROOT / "specs" / "LICENSES"
    assert "Twilio" in (licences / "MIT-sendgrid.txt").read_text()
    assert "Apache License" in (licences / "Apache-2.0-mailgun.txt").read_text()


def test_tests_find_the_vendored_copy_by_default(monkeypatch):
    monkeypatch.delenv("MAILCORE_SPECS_DIR", raising=False)
    assert specs_dir() == REPO_ROOT / "specs"
    assert spec_file("mailgun_openapi.yaml").is_file()


def test_the_environment_can_point_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setenv("MAILCORE_SPECS_DIR", str(tmp_path))
    assert spec_file("x.json") == tmp_path / "x.json"
