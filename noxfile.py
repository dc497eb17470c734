"""The one entry point for developers and CI.

On a fresh machine with only Python and pip::

    python3 noxfile.py -s demo     # a sample send on the embedded default
    python3 noxfile.py -s tests    # the whole test suite

Run directly, this file installs nox into ``.nox-bootstrap/`` on first use and hands over to it.
Sessions: tests (everything below), core (3.11-3.13), plugins, django, lint, typecheck, docs,
demo, bench. Plugins are found by the glob ``plugins/*/pyproject.toml``.
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

# Make pyenv's interpreters visible to nox (this machine has 3.11-3.13 under ~/.pyenv).
for bin_dir in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin")), reverse=True):
    if bin_dir not in os.environ.get("PATH", ""):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

PYTHONS = ["3.11", "3.12", "3.13"]
MAIN_PYTHON = "3.12"
PLUGINS = sorted(str(Path(p).parent.relative_to(ROOT)) for p in glob.glob(str(ROOT / "plugins/*/pyproject.toml")))
TEST_DEPS = ["pytest>=8", "pytest-timeout", "hypothesis", "setuptools", "pip"]
PEER_DEPS = [  # real peers for integration tests: SMTP, HTTP schema checks, moto, Redis, Celery
    "aiosmtpd",
    "trustme",
    "jsonschema",
    "pyyaml",
    "moto[server]",
    "redis",
    "celery",
    "limits",
]
# Core tests run on every Python with light dependencies; these directories need the peers.
INTEGRATION_DIRS = [
    ROOT / "tests" / "outbox",
    ROOT / "tests" / "bulk",
    ROOT / "tests" / "policy" / "test_integration_http.py",
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


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Everything: core on every Python, plugins and integrations, Django 5.2 and 6.1."""
    for python in PYTHONS:
        session.notify(f"core-{python}")
    session.notify("plugins")
    for django_id in DJANGO_IDS:
        session.notify(f"django({django_id})")


@nox.session(python=PYTHONS)
def core(session: nox.Session) -> None:
    """Core tests (message, rendering, URLs, registry, policy, CLI) on one Python."""
    install_project(session, *TEST_DEPS, "redis")
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
    install_project(session, *TEST_DEPS, "aiosmtpd", "trustme", "pytest-django", django)
    session.run("pytest", "-q", "tests/django", *session.posargs)


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


@nox.session(python=MAIN_PYTHON)
def demo(session: nox.Session) -> None:
    """A sample send on the embedded default: no network, no credentials."""
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
    install_project(session, *PEER_DEPS, django, "django-anymail[sendgrid]", "sendgrid", "requests")
    scripts = session.posargs or (
        sorted(glob.glob("benchmarks/bench_*.py")) if scope == "all" else list(DJANGO_BENCHES)
    )
    for script in scripts:
        session.run("python", script)


if __name__ == "__main__":
    nox.main()
