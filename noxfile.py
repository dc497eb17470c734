"""The one entry point for developers and CI.

On a fresh machine with only Python and pip::

    python3 noxfile.py -s demo     # a sample send on the embedded default
    python3 noxfile.py -s tests    # the whole test suite

Run directly, this file installs nox into ``.nox-bootstrap/`` on first use and hands over to it.
Sessions: tests (everything below), core (3.11-3.13), plugins, django, lint, typecheck, docs,
demo, bench, names. Plugins are found by the glob ``plugins/*/pyproject.toml``.

Interpreters are found on PATH (``python3.11``, ``python3.12``, ``python3.13``), then under
pyenv when it is installed; nothing else is assumed. ``tests`` runs what the interpreters present
allow and prints what it could not run; under ``CI=true`` or ``MAILCORE_REQUIRE_SERVICES=1`` a
session that cannot run fails the run. The demo runs on the Python that runs this file.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

if __name__ == "__main__":  # bootstrap: python3 noxfile.py -s SESSION
    try:
        import nox
    except ImportError:
        env = ROOT / ".nox-bootstrap"
        python = env / "bin" / "python"
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "nox>=2025.2", "uv"], check=True)
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])

import nox  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]
# A session whose Python is missing is an error, never a silent skip; nothing is downloaded.
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"

PYTHONS = ["3.11", "3.12", "3.13"]
#: Environment variables that make every planned session mandatory (CI).
STRICT_ENV = ("CI", "MAILCORE_REQUIRE_SERVICES")


def _extra_python_dirs() -> list[str]:
    """pyenv's interpreters, searched after PATH when present (never required)."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return sorted(glob.glob(os.path.join(root, "versions", "3.1[1-9]*", "bin")), reverse=True)


# Interpreters are looked up on PATH first, then in the extra places; nox searches the same PATH.
for _bin_dir in _extra_python_dirs():
    if _bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + _bin_dir


def find_python(version: str) -> str | None:
    """The first ``python<version>`` on PATH that really runs that version, or None."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / f"python{version}"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        try:
            out = subprocess.run(
                [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:  # a pyenv shim of an absent version fails
            return str(candidate)
    return None


CURRENT_PYTHON = "{}.{}".format(*sys.version_info[:2])
AVAILABLE = {version: find_python(version) for version in PYTHONS}
#: Sessions that need one Python (plugins, lint, typecheck, docs, bench) use 3.12 when present,
#: else another supported Python on PATH, else the one running this file.
MAIN_PYTHON_VERSION = next((v for v in ("3.12", "3.13", "3.11") if AVAILABLE.get(v)), CURRENT_PYTHON)
MAIN_PYTHON: str = MAIN_PYTHON_VERSION if AVAILABLE.get(MAIN_PYTHON_VERSION) else sys.executable
PLUGINS = sorted(str(Path(p).parent.relative_to(ROOT)) for p in glob.glob(str(ROOT / "plugins/*/pyproject.toml")))
TEST_DEPS = ["pytest>=8", "pytest-timeout", "hypothesis", "setuptools", "pip", "nox>=2025.2", "jinja2"]
PEER_DEPS = [  # real peers for integration tests: SMTP, HTTP schema checks, moto, Redis, Celery, RabbitMQ, PostgreSQL
    "aiosmtpd",
    "trustme",
    "jsonschema",
    "pyyaml",
    "moto[server]",
    "redis",
    "celery",
    "kombu",  # tests/outbox/test_celery_rabbitmq.py talks to RabbitMQ through kombu and py-amqp
    "amqp",
    "limits",
    "psycopg[binary]>=3.1",  # the PostgreSQL outbox (tests/outbox on 127.0.0.1:5432, bench_outbox.py)
]
# Core tests run on every Python with light dependencies; these directories need the peers.
INTEGRATION_DIRS = [
    ROOT / "tests" / "outbox",
    ROOT / "tests" / "bulk",
    ROOT / "tests" / "policy" / "test_integration_http.py",
    ROOT / "tests" / "policy" / "test_integration_time_budget.py",
    ROOT / "tests" / "install",
    ROOT / "tests" / "leaks",
]
CORE_IGNORES = ["--ignore=tests/django", *(f"--ignore={p.relative_to(ROOT)}" for p in INTEGRATION_DIRS)]
DJANGO_MATRIX = [("3.11", "django>=5.2,<5.3"), ("3.12", "django>=6.1,<6.2")]
DJANGO_IDS = ["django52", "django61"]


def install_project(session: nox.Session, *extras: str, plugins: bool = True) -> None:
    args = ["-e", "."]
    if plugins:
        for plugin in PLUGINS:
            args += ["-e", plugin]
    session.install(*args, *extras)


def planned_sessions() -> list[tuple[str, str]]:
    """(session name, Python version it needs) for everything ``tests`` runs."""
    plan = [(f"core-{version}", version) for version in PYTHONS]
    plan.append(("plugins", MAIN_PYTHON_VERSION))
    plan += [
        (f"django({django_id})", version) for (version, _), django_id in zip(DJANGO_MATRIX, DJANGO_IDS, strict=True)
    ]
    plan += [(f"django_suite({suite_id})", DJANGO_SUITE_PYTHON) for suite_id in DJANGO_SUITE_IDS]
    return plan


def is_strict() -> bool:
    """CI (``CI=true``) or ``MAILCORE_REQUIRE_SERVICES=1``: a session that cannot run fails the run."""
    return any(os.environ.get(name, "").lower() not in ("", "0", "false", "no") for name in STRICT_ENV)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Everything the Pythons on PATH allow: core on 3.11-3.13, plugins, Django 5.2 and 6.1.

    Each session runs in its own nox process; a table at the end says what ran, what failed and
    what could not run and why. A session that could not run is never reported as a pass, and
    fails the run under CI=true or MAILCORE_REQUIRE_SERVICES=1. ``MAILCORE_NOX_PLAN=1`` prints the
    table without running anything.
    """
    plan_only = os.environ.get("MAILCORE_NOX_PLAN", "") not in ("", "0")
    rows: list[tuple[str, str, str, str]] = []
    for name, version in planned_sessions():
        if not AVAILABLE.get(version) and not (name == "plugins" and version == CURRENT_PYTHON):
            rows.append((name, version, "NOT RUN", f"no python{version} on PATH"))
            continue
        if plan_only:
            rows.append((name, version, "planned", "MAILCORE_NOX_PLAN=1"))
            continue
        rows.append((name, version, *run_session(name, session.posargs)))
    print(summary_table(rows), flush=True)
    failed = [row[0] for row in rows if row[2] == "FAILED"]
    not_run = [row[0] for row in rows if row[2] == "NOT RUN"]
    if failed:
        session.error(f"failed: {', '.join(failed)}")
    if not_run and is_strict():
        session.error(f"could not run (CI requires every session): {', '.join(not_run)}")
    if not_run:
        session.warn(f"INCOMPLETE: {len(not_run)} of {len(rows)} sessions could not run: {', '.join(not_run)}")


def run_session(name: str, posargs: list[str]) -> tuple[str, str]:
    """Run one session in its own nox process; return its (result, why) for the summary table.

    nox exits 0 for a session that skipped itself, so the result is read from nox's ``--report``:
    a skip is shown as ``skipped`` with its reason, never as a pass.
    """
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, str(ROOT / "noxfile.py"), "-s", name, "--report", str(report)]
        if posargs:
            command += ["--", *posargs]
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        results = json.loads(report.read_text())["sessions"] if report.exists() else []
    if code != 0:
        return "FAILED", f"exit code {code}"
    return session_outcome(results)


def session_outcome(results: list[dict[str, object]]) -> tuple[str, str]:
    """(result, why) from nox's report entries of one successful run: ``skipped`` when any skipped."""
    skipped = [entry for entry in results if entry.get("result") == "skipped"]
    if skipped:
        return "skipped", "; ".join(str(entry.get("reason") or "no reason given") for entry in skipped)
    return "passed", ""


def summary_table(rows: list[tuple[str, str, str, str]]) -> str:
    """The end-of-run table: session, Python, result, why."""
    header = ("session", "python", "result", "why")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    lines = ["", "mailcore test summary"]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


@nox.session(python=PYTHONS)
def core(session: nox.Session) -> None:
    """Core tests (message, rendering, URLs, registry, policy, CLI) on one Python.

    psycopg: the delivery-event, status and suppression tests run on a PostgreSQL outbox too
    (127.0.0.1:5432; they skip with the reason locally without it and fail under CI=true).
    """
    install_project(session, *TEST_DEPS, "redis", "trustme", "psycopg[binary]>=3.1")
    session.run("pytest", "-q", "tests", *CORE_IGNORES, *session.posargs)


@nox.session(python=MAIN_PYTHON)
def plugins(session: nox.Session) -> None:
    """Every plugin's tests against real local peers, plus the integration tests.

    Each directory runs in its own pytest process: their conftest modules share a name.
    """
    install_project(session, *TEST_DEPS, *PEER_DEPS)
    paths = [p.relative_to(ROOT) for p in INTEGRATION_DIRS if p.exists()]
    paths += [Path(plugin) / "tests" for plugin in PLUGINS if (ROOT / plugin / "tests").is_dir()]
    for path in paths:
        session.run("pytest", "-q", str(path), *session.posargs)


@nox.session
@nox.parametrize(("python", "django"), DJANGO_MATRIX, ids=DJANGO_IDS)
def django(session: nox.Session, django: str) -> None:
    """The Django adapter on Django 5.2 LTS and 6.1."""
    if not (ROOT / "tests" / "django").is_dir():
        session.error("tests/django is missing")
    # psycopg: the Django-database outbox tests run on PostgreSQL too (127.0.0.1:5432).
    # selenium drives Debian's chromium for the admin browser test (tests/django/browser.py);
    # the driver is /usr/bin/chromedriver, named explicitly, so nothing is downloaded.
    install_project(
        session, *TEST_DEPS, "aiosmtpd", "trustme", "pytest-django", "psycopg[binary]", "selenium>=4.20", django
    )
    session.run("pytest", "-q", "tests/django", *session.posargs)


# Django's own tests/mail against our backend (tools/django_suite.py, docs/django.md). Python
# 3.13: Django 6.1's tests import email.errors.HeaderWriteError, which 3.12.1 lacks.
DJANGO_SUITE_PYTHON = "3.13"
DJANGO_SUITE = [("5.2", "django>=5.2,<5.3"), ("6.1", "django>=6.1,<6.2"), ("newest", "django")]
DJANGO_SUITE_IDS = ["5.2", "6.1", "newest"]


@nox.session(python=DJANGO_SUITE_PYTHON)
@nox.parametrize("spec", [spec for _, spec in DJANGO_SUITE], ids=DJANGO_SUITE_IDS)
def django_suite(session: nox.Session, spec: str) -> None:
    """Django's own tests/mail (from its sdist) through our backend and a real aiosmtpd.

    Runs the suite with Django's SMTP backend, then with mailcore's; fails on any applicable
    test that fails with mailcore and is not a documented deliberate difference. The "newest"
    run is skipped when the newest release is a minor version already covered.
    """
    import re
    import tarfile

    session.install("pip")
    cache = ROOT / ".nox" / "django-suite"
    cache.mkdir(parents=True, exist_ok=True)
    listing = session.run(
        "python", "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", spec, "-d", str(cache), silent=True
    )  # fmt: skip
    version = re.search(r"django-(\d[\w.]*)\.tar\.gz", str(listing), re.IGNORECASE)
    if version is None:
        session.error(f"pip download {spec} did not say which version it fetched")
    django_version = version.group(1)
    covered = [minor for minor, _ in DJANGO_SUITE if minor != "newest"]
    if spec == "django" and ".".join(django_version.split(".")[:2]) in covered:
        session.skip(f"the newest Django, {django_version}, is a minor version already covered")
    source = cache / f"django-{django_version}"
    if not (source / "tests" / "mail").is_dir():
        with tarfile.open(cache / f"django-{django_version}.tar.gz") as archive:
            members = [m for m in archive.getmembers() if "/tests/mail/" in m.name or m.name.endswith("/tests/mail")]
            archive.extractall(cache, members=members, filter="data")
    install_project(session, "aiosmtpd", f"django=={django_version}", plugins=False)
    session.install("-e", "plugins/mailcore-smtp")
    baseline = cache / f"django-{django_version}.django.json"
    tests_dir = str(source / "tests")
    session.run("python", "tools/django_suite.py", tests_dir, "--backend", "django", "--out", str(baseline))
    ours = cache / f"django-{django_version}.mailcore.json"
    session.run(
        "python", "tools/django_suite.py", tests_dir, "--backend", "mailcore", "--out", str(ours),
        "--baseline", str(baseline),
    )  # fmt: skip


@nox.session(python=MAIN_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=MAIN_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy, strict on library code (core and every plugin's src/)."""
    install_project(
        session,
        "mypy",
        "pytest",
        "boto3-stubs[sesv2]",
        "types-requests",
        "types-PyYAML",
        "django-stubs",
        "celery-types",
        "redis",
        "limits",
        "jinja2",
        "psycopg[binary]>=3.1",
    )
    session.run("mypy", "--strict", "mailcore")
    for plugin in PLUGINS:
        src = ROOT / plugin / "src"
        session.run("mypy", "--strict", str(src.relative_to(ROOT)), env={"MYPYPATH": str(src)})


@nox.session(python=MAIN_PYTHON)
def docs(session: nox.Session) -> None:
    """Check the docs: every relative link resolves, every hook is documented, examples compile."""
    install_project(session, *TEST_DEPS, plugins=False)
    session.run("python", "tools/check_docs.py")


@nox.session(python=sys.executable)
def demo(session: nox.Session) -> None:
    """A sample send on the embedded default, on the Python running this file: no network, no credentials."""
    install_project(session, plugins=False)
    session.run("mailcore", "demo", *session.posargs)


#: Benchmarks that use Django run once per Django version; the others only with the newest.
BENCH_DJANGO = [("django>=6.1,<6.2", "all"), ("django>=5.2,<5.3", "django")]
DJANGO_BENCHES = ("benchmarks/bench_smtp.py", "benchmarks/bench_render.py")


@nox.session(python=MAIN_PYTHON)
@nox.parametrize(("django", "scope"), BENCH_DJANGO, ids=["django61", "django52"])
def bench(session: nox.Session, django: str, scope: str) -> None:
    """Benchmarks against local sinks; prints tables and writes benchmarks/results/*.json.

    ``bench(django61)`` runs every benchmark; ``bench(django52)`` reruns the ones with Django
    anchors (SMTP, render) under Django 5.2, each against mailcore in its own run.
    """
    install_project(session, *PEER_DEPS, django, "django-anymail[sendgrid]", "sendgrid", "requests", "py-spy")
    scripts = session.posargs or (
        sorted(glob.glob("benchmarks/bench_*.py")) if scope == "all" else list(DJANGO_BENCHES)
    )
    for script in scripts:
        session.run("python", script)


#: Our distribution names on the package registry, and the versions we have published there.
OUR_NAMES = [
    "steadymail",
    "steadymail-smtp",
    "steadymail-sendgrid",
    "steadymail-ses",
    "steadymail-mailgun",
    "steadymail-console",
]
OUR_RELEASES: dict[str, set[str]] = {}  # e.g. {"steadymail": {"0.1.0"}} after the first upload


@nox.session(python=False)
def names(session: nox.Session) -> None:
    """Ask the package registry whether each of our names is still free or holds only our releases.

    Needs the network, so it is not part of ``tests`` or CI; run it before a release.
    """
    taken: list[str] = []
    for name in OUR_NAMES:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=False,
        )
        versions = set(registry_versions(out.stdout)) if out.returncode == 0 else set()
        if out.returncode != 0 and "No matching distribution" not in out.stderr:
            session.error(f"{name}: could not ask the registry: {out.stderr.strip()}")
        strangers = versions - OUR_RELEASES.get(name, set())
        state = "free" if not versions else ("ours" if not strangers else f"TAKEN by others: {sorted(strangers)}")
        print(f"{name:<22} {state}", flush=True)
        if strangers:
            taken.append(name)
    if taken:
        session.error(f"not ours on the registry: {', '.join(taken)}")


def registry_versions(pip_output: str) -> list[str]:
    """The versions in ``pip index versions`` output (its "Available versions:" line)."""
    for line in pip_output.splitlines():
        if line.strip().startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return []


if __name__ == "__main__":
    nox.main()
