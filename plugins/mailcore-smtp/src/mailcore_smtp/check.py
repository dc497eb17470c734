"""``mailcore check smtp://…``: diagnose a connection step by step, never sending a message.

Steps: the settings, DNS per family, TCP per address, (TLS for implicit TLS), the greeting, EHLO
extensions, STARTTLS and the certificate (subject, issuer, expiry), AUTH. Each step says how
long it took and, when it fails, what usually causes that failure. A failed step ends the check
(later steps would only repeat it). Secrets never appear: details come from server replies,
which are masked, and from settings, which hold secrets as :class:`~mailcore.redact.Secret`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

from mailcore.errors import SendError
from mailcore.transport import CheckStep
from mailcore_smtp.classify import Stage
from mailcore_smtp.net import Address, ConnectFailure, Deadline, connect, interleave, is_ip_literal, resolve, show
from mailcore_smtp.session import WIRE_ERRORS, Opener, ehlo_name, wire_error
from mailcore_smtp.settings import SMTPSettings
from mailcore_smtp.tls import describe_certificate
from mailcore_smtp.wire import SMTPConnection

__all__ = ["HINTS", "run_check"]

T = TypeVar("T")
Step = Callable[[str, Callable[[], object]], tuple[object, float, BaseException | None]]

HINTS = {
    "dns": "check the host name for typos; in a container check /etc/resolv.conf; an IP address skips DNS",
    "refused": "nothing listens there: check the port (587 = STARTTLS, 465 = implicit TLS with smtps://)",
    "timeout": "packets are dropped: a firewall or your cloud provider may block outbound SMTP; "
    "if only IPv6 fails, add ?family=ipv4",
    "greeting": "TCP works but the server never greeted: port 465 expects TLS first (use smtps://), "
    "or a proxy or antivirus holds the connection",
    "refuses": "the server refuses sessions from this address (blocklisted IP, or not a mail server)",
    "ehlo": "the server refused our EHLO name; set ?ehlo=your.host.name",
    "starttls": "STARTTLS is not offered: a network device may strip it (downgrade attack); "
    "try smtps:// on port 465, or use ?tls=none only on a trusted network",
    "certificate": "the certificate is not trusted or does not match the host name: for a private CA set "
    "?cafile=/path/ca.pem; use the name the certificate was issued for; verification is never turned off",
    "auth_missing": "the server offers no AUTH here: some offer it only after STARTTLS; a relay that "
    "authorizes by IP needs no user in the URL",
    "auth": "credentials refused: Gmail needs an app password (docs/gmail.md); check the user name, "
    "password or token, and that SMTP access is enabled for the account",
}


def _timed(name: str, action: Callable[[], T]) -> tuple[T | None, float, BaseException | None]:
    started = time.perf_counter()
    try:
        return action(), time.perf_counter() - started, None
    except (SendError, *WIRE_ERRORS, OSError) as error:
        return None, time.perf_counter() - started, error


def run_check(settings: SMTPSettings, opener: Opener) -> Iterator[CheckStep]:
    s = settings
    auth = f"AUTH as {s.username}" + (" (XOAUTH2)" if opener.uses_oauth else "") if s.username else "no AUTH"
    required = "required" if s.tls_required else "if offered"
    tls = {"starttls": f"STARTTLS {required}", "implicit": "implicit TLS", "none": "no TLS"}[s.tls]
    yield CheckStep("settings", True, f"{s.name}; {tls}; {auth}; deadline {s.timeout:g} s; family {s.family}")
    addresses = yield from _dns_steps(s, opener)
    if not addresses:
        return
    connection = yield from _tcp_steps(s, addresses)
    if connection is None:
        return
    try:
        yield from _session_steps(s, opener, connection)
    finally:
        connection.quit()


def _dns_steps(s: SMTPSettings, opener: Opener) -> Generator[CheckStep, None, list[Address]]:
    if is_ip_literal(s.host):
        addresses = resolve(s.host, s.port, s.family, Deadline(s.timeout))
        yield CheckStep("DNS", True, f"{s.host} is an IP address; no lookup needed")
        return addresses
    families = {"auto": ("ipv4", "ipv6"), "ipv4": ("ipv4",), "ipv6": ("ipv6",)}[s.family]
    found: list[Address] = []
    failures = []
    for family in families:
        record = "A" if family == "ipv4" else "AAAA"
        result, took, error = _timed("dns", _resolver_for(s, opener, family))
        if result:
            found.extend(result)
            yield CheckStep(f"DNS {record} {s.host}", True, ", ".join(show(a) for a in result), took)
        else:
            failures.append((record, took, error))
    for record, took, error in failures:
        ok = bool(found) and s.family == "auto"  # a missing AAAA (or A) is fine when the other exists
        detail = f"no {record} record ({_reason(error)}); the other family is used" if ok else _reason(error)
        yield CheckStep(f"DNS {record} {s.host}", ok, detail, took, None if ok else HINTS["dns"])
    return interleave(found)


def _resolver_for(s: SMTPSettings, opener: Opener, family: str) -> Callable[[], list[Address]]:
    return lambda: resolve(s.host, s.port, family, Deadline(s.timeout), opener.resolver)


def _connector_for(
    s: SMTPSettings, address: Address, deadline: Deadline
) -> Callable[[], tuple[socket.socket, Address]]:
    return lambda: connect(s.host, s.port, [address], deadline=deadline, connect_timeout=s.connect_timeout)


def _reason(error: BaseException | None) -> str:
    if isinstance(error, ConnectFailure) and error.tried:
        return "; ".join(why for _, why in error.tried)
    return str(error) if error else "no address"


def _tcp_steps(s: SMTPSettings, addresses: list[Address]) -> Generator[CheckStep, None, SMTPConnection | None]:
    kept: SMTPConnection | None = None
    for address in addresses:
        deadline = Deadline(s.connect_timeout)
        result, took, error = _timed("tcp", _connector_for(s, address, deadline))
        label = f"TCP {show(address)}:{s.port}"
        if result is None:
            reason = _reason(error)
            hint = HINTS["timeout"] if "timed out" in reason or "deadline" in reason else HINTS["refused"]
            yield CheckStep(label, False, reason, took, hint)  # the next address may still work
            continue
        sock, _ = result
        yield CheckStep(label, True, "connected", took)
        if kept is None:
            kept = SMTPConnection(
                sock, address, host=s.host, deadline=Deadline(s.timeout), read_timeout=s.read_timeout, secrets=s.secrets
            )
        else:
            sock.close()
    return kept


def _session_steps(s: SMTPSettings, opener: Opener, connection: SMTPConnection) -> Iterator[CheckStep]:
    def step(name: str, action: Callable[[], T]) -> tuple[T | None, float, BaseException | None]:
        connection.deadline = Deadline(s.timeout)
        return _timed(name, action)

    if s.tls == "implicit":
        _, took, error = step("tls", lambda: connection.wrap_tls(opener.context(), s.host))
        yield _tls_step("TLS handshake", connection, took, error)
        if error:
            return
    greeting, took, error = step("greeting", connection.read_greeting)
    if greeting is None or greeting.code != 220:
        hint = HINTS["greeting"] if greeting is None else HINTS["refuses"]
        yield CheckStep(
            "greeting", False, str(greeting) if greeting else _explain(Stage.GREETING, error, s), took, hint
        )
        return
    yield CheckStep("greeting", True, str(greeting), took)
    name = s.ehlo or ehlo_name(connection.sock)
    if not (yield from _ehlo_step(s, connection, name, step)):
        return
    if s.tls == "starttls":
        if not connection.has("STARTTLS"):
            yield CheckStep(
                "STARTTLS",
                not s.tls_required,
                "not offered by the server",
                0.0,
                HINTS["starttls"],
                skipped=not s.tls_required,
            )
            if s.tls_required:
                return
        else:
            reply, took, error = step("starttls", lambda: connection.starttls(opener.context(), s.host))
            if reply is not None and reply.code != 220:
                yield CheckStep("STARTTLS", False, str(reply), took, HINTS["starttls"])
                return
            yield _tls_step("STARTTLS", connection, took, error)
            if error or not (yield from _ehlo_step(s, connection, name, step, again=True)):
                return
    yield from _auth_step(s, opener, connection, step)


def _ehlo_step(
    s: SMTPSettings, connection: SMTPConnection, name: str, step: Step, again: bool = False
) -> Generator[CheckStep, None, bool]:
    label = "EHLO after TLS" if again else "EHLO"
    reply, took, error = step("ehlo", lambda: connection.ehlo(name))
    if error is not None or reply is None or not getattr(reply, "ok", False):
        detail = str(reply) if reply is not None else _explain(Stage.EHLO, error, s)
        yield CheckStep(label, False, detail, took, HINTS["ehlo"])
        return False
    extensions = ", ".join(f"{k} {v}".strip() for k, v in connection.features.items()) or "none (HELO only)"
    yield CheckStep(label, True, f"{connection.server_name}: {extensions}", took)
    return True


def _tls_step(label: str, connection: SMTPConnection, took: float, error: BaseException | None) -> CheckStep:
    if error is not None:
        return CheckStep(label, False, _explain(Stage.STARTTLS, error, connection.host), took, HINTS["certificate"])
    version = connection.sock.version() if hasattr(connection.sock, "version") else "?"
    detail = f"{version}; certificate verified: {describe_certificate(connection.peer_certificate())}"
    return CheckStep(label, True, detail, took)


def _auth_step(s: SMTPSettings, opener: Opener, connection: SMTPConnection, step: Step) -> Iterator[CheckStep]:
    mechanisms = " ".join(connection.auth_mechanisms) or "none"
    if not s.username:
        yield CheckStep("AUTH", True, f"no credentials configured; server offers: {mechanisms}")
        return
    _, took, error = step("auth", lambda: opener.authenticate(connection))
    if error is None:
        yield CheckStep("AUTH", True, f"accepted for {s.username} (server offers: {mechanisms})", took)
        return
    hint = HINTS["auth_missing"] if mechanisms == "none" else HINTS["auth"]
    yield CheckStep("AUTH", False, _explain(Stage.AUTH, error, s), took, hint)


def _explain(stage: Stage, error: BaseException | None, s: SMTPSettings | str) -> str:
    host = s if isinstance(s, str) else s.host
    if error is None:
        return "failed"
    if isinstance(error, SendError):
        return str(error)
    return str(wire_error(stage, error, host))
