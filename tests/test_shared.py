"""Process-wide Mailer reuse (mailcore.shared): keys, thread safety, idle expiry, fork, exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass

import pytest

from mailcore import Mailer, send_mail
from mailcore.policy import RetryPolicy
from mailcore.redact import Secret
from mailcore.shared import SharedMailer, SharedMailers, configuration_key, reuse_enabled, shared_mailer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting(SharedMailer):
    """Counts how often the registry really closes it."""

    released = 0

    def _release(self) -> None:
        type(self).released += 1
        self.released_here = True
        super()._release()


def build(url: str = "memory://") -> SharedMailer:
    return Counting(url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> SharedMailers:
    return SharedMailers(idle_timeout=60, clock=clock, reaper=False)


# -- keys ------------------------------------------------------------------------------------


def test_key_is_a_hash_that_never_holds_the_secret():
    key = configuration_key("sendgrid://SG.secret-key@", None, {})
    assert key is not None and len(key) == 64 and "secret" not in key
    assert key == configuration_key("sendgrid://SG.secret-key@", None, {})
    assert key != configuration_key("sendgrid://SG.other-key@", None, {})
    assert key != configuration_key("sendgrid://SG.secret-key@", "a@example.com", {})


def test_key_covers_plain_options_and_refuses_objects():
    retry = {"retry": RetryPolicy(attempts=2)}
    assert configuration_key("memory://", None, retry) == configuration_key("memory://", None, dict(retry))
    assert configuration_key("memory://", None, retry) != configuration_key(
        "memory://", None, {"retry": RetryPolicy(attempts=3)}
    )
    assert configuration_key("memory://", None, {"state": Secret("redis://:pw@h")}) is not None
    assert configuration_key("memory://", None, {"clock": lambda: 0.0}) is None

    @dataclass  # not frozen: could change after hashing
    class Mutable:
        x: int = 1

    assert configuration_key("memory://", None, {"retry": Mutable()}) is None


def test_reuse_can_be_turned_off():
    assert reuse_enabled({}) and reuse_enabled({"MAILCORE_REUSE": "1"})
    assert not reuse_enabled({"MAILCORE_REUSE": "0"}) and not reuse_enabled({"MAILCORE_REUSE": "off"})


# -- one Mailer per configuration --------------------------------------------------------------


def test_same_key_same_mailer_and_close_is_a_no_op(registry: SharedMailers):
    first = registry.get("k", build)
    first.close()
    with first:
        pass
    assert registry.get("k", build) is first
    assert registry.get("other", build) is not first
    assert registry.built == 2 and not getattr(first, "released_here", False)


def test_threads_racing_for_one_key_get_one_mailer(registry: SharedMailers):
    barrier = threading.Barrier(8)
    got: list[SharedMailer] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            mailer = registry.get("k", build)
            with lock:
                got.append(mailer)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 400 and len({id(m) for m in got}) == 1
    assert registry.built == 1 and len(registry) == 1


def test_idle_mailers_expire_with_an_injected_clock(registry: SharedMailers, clock: Clock):
    first = registry.get("k", build)
    clock.now += 59
    assert registry.expire() == 0 and registry.get("k", build) is first  # use resets the idle time
    clock.now += 59
    assert registry.expire() == 0
    clock.now += 1
    assert registry.expire() == 1 and first.released_here and len(registry) == 0
    assert registry.get("k", build) is not first


def test_a_lookup_expires_other_idle_mailers(registry: SharedMailers, clock: Clock):
    old = registry.get("old", build)
    clock.now += 61
    registry.get("new", build)
    assert old.released_here and len(registry) == 1


def test_least_recently_used_configuration_is_closed_beyond_the_cap(clock: Clock):
    registry = SharedMailers(clock=clock, reaper=False, max_entries=2)
    a = registry.get("a", build)
    registry.get("b", build)
    registry.get("a", build)  # a is now the most recent
    registry.get("c", build)
    assert len(registry) == 2
    b = registry.get("b", build)
    assert a.released_here is True and not getattr(b, "released_here", False)


def test_reaper_thread_expires_without_callers():
    registry = SharedMailers(idle_timeout=0.05)
    mailer = registry.get("k", build)
    registry._reaper.join(5)  # exits once nothing is left to watch
    assert mailer.released_here and len(registry) == 0


def test_close_all_closes_every_mailer(registry: SharedMailers):
    mailers = [registry.get(k, build) for k in "abc"]
    registry.close_all()
    assert all(m.released_here for m in mailers) and len(registry) == 0


# -- fork and exit: real processes -------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys
    from mailcore.shared import SharedMailer, SharedMailers

    released = []

    class Tracked(SharedMailer):
        def _release(self):
            released.append(os.getpid())
            super()._release()

    registry = SharedMailers(reaper=False)
    parent_mailer = registry.get("k", lambda: Tracked("memory://"))
    pid = os.fork()
    if pid == 0:
        # the child forgets the inherited Mailer without closing it, then builds its own
        ok = len(registry) == 0 and not released
        child_mailer = registry.get("k", lambda: Tracked("memory://"))
        ok = ok and child_mailer is not parent_mailer and registry.built == 2
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "child saw inherited mailers"
    assert registry.get("k", lambda: Tracked("memory://")) is parent_mailer and not released
    print("fork-ok")
    """
)

EXIT = textwrap.dedent(
    """
    import atexit
    from mailcore.shared import SharedMailer, SharedMailers

    class Loud(SharedMailer):
        def _release(self):
            print("released", flush=True)
            super()._release()

    SharedMailers(reaper=False)  # collected at once: must not break exit
    registry = SharedMailers(reaper=False)
    registry.get("k", lambda: Loud("memory://"))
    print("exiting", flush=True)
    """
)


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_fork_child_drops_inherited_mailers_and_parent_keeps_its_own():
    assert _run(CHILD).strip() == "fork-ok"


def test_shared_mailers_are_closed_at_exit():
    assert _run(EXIT).split() == ["exiting", "released"]


# -- the public entry points -------------------------------------------------------------------


@pytest.fixture
def share_memory(monkeypatch):
    """memory:// is not shared by default (no connection to keep): share it to test the plumbing."""
    monkeypatch.setattr("mailcore.shared.LOCAL_SCHEMES", frozenset())


def test_local_only_urls_are_not_shared(monkeypatch):
    monkeypatch.delenv("MAILCORE_REUSE", raising=False)
    assert type(shared_mailer("memory://")) is Mailer
    assert type(shared_mailer("failover(memory://a console://)")) is Mailer


def test_send_mail_reuses_one_process_wide_mailer(monkeypatch, share_memory):
    monkeypatch.setenv("MAILCORE_URL", "memory://sharedtest")
    monkeypatch.setenv("MAILCORE_FROM", "shop@example.com")
    monkeypatch.delenv("MAILCORE_REUSE", raising=False)
    first = shared_mailer("memory://sharedtest", from_email="shop@example.com")
    assert isinstance(first, SharedMailer)
    for _ in range(3):
        assert send_mail("s", "b", None, ["a@example.com"]) == 1
    assert shared_mailer("memory://sharedtest", from_email="shop@example.com") is first


def test_send_mail_without_reuse_builds_a_private_mailer(monkeypatch):
    monkeypatch.setenv("MAILCORE_REUSE", "0")
    mailer = shared_mailer("memory://")
    assert type(mailer) is Mailer


def test_secret_urls_are_keyed_by_their_value(monkeypatch, share_memory):
    monkeypatch.delenv("MAILCORE_REUSE", raising=False)
    one = shared_mailer(Secret("memory://secret-one"))
    assert shared_mailer(Secret("memory://secret-one")) is one
    assert shared_mailer(Secret("memory://secret-two")) is not one
    assert configuration_key(Secret("memory://a"), None, {}) != configuration_key(Secret("memory://b"), None, {})
