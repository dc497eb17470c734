"""Fixtures for the outbox tests: a real SQLite file, an out-of-process HTTP sink, Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mailcore.testing import skip_or_fail

HERE = Path(__file__).parent
WORKER_CMD = [sys.executable, "-c", "from mailcore.cli import main; main()"]


@pytest.fixture
def outbox_url(tmp_path):
    return f"sqlite:///{tmp_path / 'outbox.sqlite3'}"


@pytest.fixture
def plugin_env(tmp_path):
    """Environment for subprocesses in which the throwaway ``httpsink`` plugin is installed."""
    return make_plugin_env(tmp_path)


def make_plugin_env(directory, *more_paths):
    site = directory / "site"
    info = site / "mailcore_testsink-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mailcore-testsink\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mailcore]\ntestsink = mailcore_testsink\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCORE_")}
    paths = [str(site), str(HERE), *map(str, more_paths), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Sink:
    def __init__(self, process, port, log):
        self.process, self.port, self.log = process, port, log
        self.url = f"httpsink://127.0.0.1:{port}"

    def records(self):
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [(float(ts), mid) for ts, mid in (line.split(" ", 1) for line in lines if line)]

    def counts(self):
        return Counter(mid for _, mid in self.records())

    def wait_for(self, total, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.records()) >= total:
                return True
            time.sleep(0.02)
        return False


def start_sink(tmp_path, delay=0.0, name="sink"):
    port_file, log = tmp_path / f"{name}.port", tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "mailcore_testsink.py"), str(port_file), str(log), str(delay)]
    )
    deadline = time.monotonic() + 10
    while not port_file.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the test sink did not start")
        time.sleep(0.01)
    return Sink(process, int(port_file.read_text()), log)


def stop(process, timeout=5.0):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_smtp_sink(tmp_path, delay=0.0, name="smtp"):
    """An aiosmtpd sink in its own process (``smtp_sink.py``); ``url`` is the worker's transport."""
    port_file, log = tmp_path / f"{name}.port", tmp_path / f"{name}.log"
    process = subprocess.Popen([sys.executable, str(HERE / "smtp_sink.py"), str(port_file), str(log), str(delay)])
    deadline = time.monotonic() + 20
    while not port_file.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the SMTP sink did not start")
        time.sleep(0.01)
    sink = Sink(process, int(port_file.read_text()), log)
    sink.url = f"smtp://127.0.0.1:{sink.port}?tls=none"
    return sink


@pytest.fixture
def sink(tmp_path):
    sink = start_sink(tmp_path)
    yield sink
    stop(sink.process)


@pytest.fixture
def slow_sink(tmp_path):
    """A sink that takes 2 ms per message, so a test can kill a worker mid-batch."""
    sink = start_sink(tmp_path, delay=0.002, name="slow")
    yield sink
    stop(sink.process)


def _redis_client(db):
    try:
        import redis
    except ImportError:
        return None, "the redis package is not installed"
    client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as error:
        return None, f"Redis on 127.0.0.1:6379 is not reachable ({type(error).__name__})"
    return client, ""


def require_redis(db):
    client, reason = _redis_client(db)
    if client is None:
        skip_or_fail(reason)
    return client


# -- PostgreSQL ------------------------------------------------------------------------------------
# The fixtures (pg_database, pg_url, pg_fresh_database, store_url) live in tests/postgres_fixtures.py,
# registered by tests/conftest.py; the helpers are importable from here too.

from postgres_fixtures import PG_SERVER, pg_connect  # noqa: E402, F401 - re-exported for the tests


def open_store(url, *, synchronous="FULL"):
    """The outbox store for ``url`` (SQLite or PostgreSQL), as ``mailcore.outbox.open_store``
    opens it for a producer, or for a worker with ``synchronous="NORMAL"``."""
    from mailcore.outbox import open_store as open_any

    return open_any(url, worker=synchronous == "NORMAL")


RABBITMQ = ("127.0.0.1", 5672)


def rabbitmq_url(vhost="/", port=RABBITMQ[1]):
    from urllib.parse import quote

    return f"amqp://guest:guest@127.0.0.1:{port}/{quote(vhost, safe='')}"


def require_rabbitmq(url=None):
    """Skip (locally) or fail (CI) unless RabbitMQ answers on 127.0.0.1:5672 as guest/guest."""
    try:
        from kombu import Connection
    except ImportError:
        skip_or_fail("kombu is not installed (pip install celery)")
    try:
        with Connection(url or rabbitmq_url(), connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:
        skip_or_fail(f"RabbitMQ on 127.0.0.1:5672 is not reachable as guest/guest ({type(error).__name__})")


class RabbitVhost:
    """A vhost of its own for one test run (rabbitmqctl), or "/" with unique queue names.

    ``url`` is the broker URL; ``isolated`` says whether a vhost was created (then ``close()``
    deletes it with everything in it). Without rabbitmqctl (not root, another machine) the
    tests use "/" and queue names with a uuid, and delete their queues themselves.
    """

    def __init__(self):
        import shutil
        import uuid

        require_rabbitmq()
        self.name = f"mailcore-test-{uuid.uuid4().hex[:10]}"
        ctl = shutil.which("rabbitmqctl")
        self.isolated = False
        if ctl:
            made = subprocess.run([ctl, "add_vhost", self.name], capture_output=True, text=True, check=False)
            if made.returncode == 0:
                subprocess.run([ctl, "set_permissions", "-p", self.name, "guest", ".*", ".*", ".*"],
                               capture_output=True, check=True)  # fmt: skip
                self.isolated = True
        self.vhost = self.name if self.isolated else "/"
        self.url = rabbitmq_url(self.vhost)

    def close(self):
        if self.isolated:
            import shutil

            subprocess.run([shutil.which("rabbitmqctl") or "rabbitmqctl", "delete_vhost", self.name],
                           capture_output=True, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def rabbit_vhost():
    vhost = RabbitVhost()
    yield vhost
    vhost.close()
