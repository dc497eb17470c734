"""A circuit breaker per transport: stop sending to a transport that keeps failing.

closed ──N failures in a row, or TransportRejected──▶ open ──cooldown──▶ half-open
  ▲                                                    ▲                    │ one probe
  └──────────────── probe succeeds ────────────────────┴── probe fails ─────┘

While open, :class:`CircuitBreaker` raises :class:`~mailcore.policy.errors.CircuitOpen`
without calling the transport, so the enclosing failover moves on at once. State lives in a
:class:`~mailcore.policy.state.StateStore` (in-process or Redis), keyed by the transport's name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailcore.errors import ConfigurationError, SendError
from mailcore.message import Message
from mailcore.policy.base import Clock, Wrapper, coerce_policy, log
from mailcore.policy.decisions import Verdict, breaker_verdict
from mailcore.policy.errors import CircuitOpen
from mailcore.result import SendResult
from mailcore.transport import Transport

if TYPE_CHECKING:
    from mailcore.policy.state import StateStore

__all__ = ["BreakerPolicy", "CircuitBreaker"]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how long it rests.

    :param failures: consecutive failed sends (after retries) that open the circuit.
    :param cooldown: seconds the circuit stays open before one probe is let through.
    :param probe_timeout: how long a probe may hold the half-open slot before another worker
        may probe (a crashed worker must not keep the transport closed for ever).
    """

    failures: int = 5
    cooldown: float = 30.0
    probe_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ConfigurationError(f"breaker failures must be at least 1, not {self.failures}")
        if self.cooldown <= 0 or self.probe_timeout <= 0:
            raise ConfigurationError("breaker cooldown and probe_timeout must be positive")

    @classmethod
    def coerce(cls, value: BreakerPolicy | Mapping[str, Any] | bool | None) -> BreakerPolicy | None:
        """Accept a BreakerPolicy, a dict of its fields, ``True`` (defaults) or ``None``/``False``
        (no breakers)."""
        return coerce_policy(cls, value, "breaker")


class CircuitBreaker(Wrapper):
    """Skips ``inner`` while its circuit is open; see the module docstring.

    With ``rejections_only`` (what :func:`~mailcore.policy.build` gives a lone transport) only a
    :class:`~mailcore.errors.TransportRejected` (refused credentials, missing STARTTLS, an
    untrusted certificate) opens it: the next messages fail fast for ``cooldown`` seconds
    instead of presenting a wrong password once per message (a pattern that gets accounts
    locked), while ordinary failures are left to the retry loop and the outbox.
    """

    def __init__(
        self,
        inner: Transport,
        policy: BreakerPolicy | None = None,
        *,
        store: StateStore | None = None,
        clock: Clock = time.time,
        key: str | None = None,
        rejections_only: bool = False,
    ) -> None:
        super().__init__(inner)
        self.policy = policy or BreakerPolicy()
        self.rejections_only = rejections_only
        if store is None:
            from mailcore.policy.state import open_state

            store = open_state()
        self.store = store
        self.clock = clock
        self.key = key or inner.name

    @property
    def status(self) -> str:
        """``closed``, ``open`` or ``half-open``, now."""
        return self.store.breaker(self.key).status(self.clock())

    def available(self) -> bool:
        state = self.store.breaker(self.key)
        now = self.clock()
        if state.opened_until and (now < state.opened_until or now < state.probe_until):
            return False
        return super().available()

    def describe(self) -> str:
        now = self.clock()
        state = self.store.breaker(self.key)
        status = state.status(now)
        if status == "open":
            detail = f"OPEN, probe in {state.opened_until - now:.0f}s"
        elif status == "half-open":
            detail = "HALF-OPEN, next message probes it"
        else:
            detail = f"closed, {state.failures}/{self.policy.failures} failures"
        if self.rejections_only and status == "closed":
            detail = "closed, opens when the transport is rejected (credentials, TLS)"
        return f"breaker {detail} (cooldown {self.policy.cooldown:g}s)"

    def send(self, message: Message) -> SendResult:
        decision, state = self.store.breaker_acquire(self.key, self.clock(), self.policy.probe_timeout)
        if decision == "open":
            reason = "the transport was rejected" if self.rejections_only else f"{state.failures} failure(s)"
            raise CircuitOpen(
                f"circuit open after {reason}; resting until the cooldown ends (nothing was sent)",
                retry_at=state.opened_until,
                transport=self.name,
            )
        try:
            result = self.inner.send(message)
        except SendError as error:
            self._record(breaker_verdict(error), decision, state)
            raise
        except BaseException:
            if decision == "probe":
                self.store.breaker_release(self.key)
            raise
        if decision == "probe" or state.failures:
            self._record(Verdict.SUCCESS, decision, state)
        return result

    def _record(self, verdict: Verdict, decision: str, before: Any) -> None:
        if verdict is Verdict.SUCCESS:
            if decision == "probe" or before.failures or before.opened_until:
                self.store.breaker_success(self.key)
                if decision == "probe":
                    log.info("circuit for %s closed: the probe succeeded", self.name, extra={"transport": self.name})
            return
        if verdict is Verdict.NEUTRAL or (self.rejections_only and verdict is Verdict.FAILURE):
            if decision == "probe":
                self.store.breaker_release(self.key)
            return
        now = self.clock()
        after = self.store.breaker_failure(
            self.key, now, self.policy.failures, self.policy.cooldown, verdict is Verdict.TRIP
        )
        if after.opened_until and after.opened_until > now and before.opened_until != after.opened_until:
            reason = (
                "the transport was rejected" if verdict is Verdict.TRIP else f"{after.failures} failure(s) in a row"
            )
            # a lone transport's failure is already reported for the message (raised, or one
            # fail_silently WARNING), and each skipped message says why: INFO is enough there
            log.log(
                20 if self.rejections_only else 30,
                "circuit for %s opened (%s); skipping it for %gs",
                self.name, reason, self.policy.cooldown,
                extra={"transport": self.name, "outcome": "circuit_open"},
            )  # fmt: skip
