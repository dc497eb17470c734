"""``mailcore check`` for ses://: each step of reaching SES, reported without sending anything.

Steps: ``endpoint`` (region and URL resolution), ``dns``, ``tcp``, ``tls`` (https only),
``credentials`` (the read-only ``GetAccount`` call, which also reports the sending quota and
whether the account is in the sandbox), ``sending`` (enabled or paused) and, when a sender
address is known, ``identity`` (is it, or its domain, verified for sending). A failing step
ends the check. Details never contain a secret.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mailcore.addresses import parse_address
from mailcore.checks import endpoint_steps
from mailcore.config import mask_endpoint
from mailcore.errors import ConnectionFailed, MailcoreError, RateLimited, TransportRejected
from mailcore.transport import CheckStep
from mailcore_ses.errors import classify_exception

if TYPE_CHECKING:
    from mailcore_ses.transport import SesTransport

__all__ = ["run_checks"]

_ACCESS_DENIED = ("AccessDenied", "AccessDeniedException")


def run_checks(transport: SesTransport, from_email: str | None) -> Iterator[CheckStep]:
    """Yield one :class:`CheckStep` per stage; stop after the first failure."""
    started = time.perf_counter()
    try:
        client = transport.client()
    except MailcoreError as error:
        yield CheckStep("endpoint", False, str(error), _since(started), hint="give ?region=… (or AWS_REGION)")
        return
    endpoint = str(client.meta.endpoint_url)
    shown = mask_endpoint(endpoint)
    yield CheckStep("endpoint", True, f"{shown} (region {client.meta.region_name})", _since(started))
    reachable = yield from endpoint_steps(
        endpoint,
        cafile=transport.cafile,
        timeout=transport.timeout,
        dns_hint="check the region name and DNS",
        report_plain=False,
    )
    if not reachable:
        return
    account_steps = _account(client, transport.secrets())
    for step in account_steps:
        yield step
        if not step.ok:
            return
    if from_email:
        yield _identity(client, from_email, transport.secrets())


def _since(started: float) -> float:
    return time.perf_counter() - started


def _account(client: Any, secrets: tuple[Any, ...]) -> list[CheckStep]:
    """``credentials`` (GetAccount: quota and sandbox) then ``sending`` (enabled or paused)."""
    started = time.perf_counter()
    try:
        account = client.get_account()
    except Exception as raised:  # botocore raises many types; classify them
        error = classify_exception(raised, secrets)
        code = (getattr(error, "response", None) or {}).get("code")
        if code in _ACCESS_DENIED:  # the signature was accepted: the keys are valid
            return [
                CheckStep(
                    "credentials",
                    True,
                    f"valid, but not allowed to call GetAccount: quota unknown ({error})",
                    _since(started),
                )
            ]
        return [CheckStep("credentials", False, str(error), _since(started), hint=_hint(error))]
    quota = account.get("SendQuota") or {}
    sandbox = not account.get("ProductionAccessEnabled", False)
    detail = (
        f"valid; Max24HourSend={_number(quota.get('Max24HourSend'))} "
        f"MaxSendRate={_number(quota.get('MaxSendRate'))}/s "
        f"SentLast24Hours={_number(quota.get('SentLast24Hours'))}; "
        + ("sandbox (only verified recipients)" if sandbox else "production access")
    )
    steps = [CheckStep("credentials", True, detail, _since(started))]
    enabled = account.get("SendingEnabled", True)
    status = account.get("EnforcementStatus", "unknown")
    steps.append(
        CheckStep(
            "sending",
            bool(enabled) and status != "SHUTDOWN",
            f"{'enabled' if enabled else 'paused'} (enforcement status {status})",
            0.0,
            hint=None if enabled else "sending is paused for this account; see the SES console",
        )
    )
    return steps


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _identity(client: Any, from_email: str, secrets: tuple[Any, ...]) -> CheckStep:
    """Is the sender address, or else its domain, a verified SES identity?"""
    started = time.perf_counter()
    address = parse_address(from_email, "from_email")
    candidates = (address.ascii_email, address.ascii_domain)
    for identity in candidates:
        try:
            answer = client.get_email_identity(EmailIdentity=identity)
        except Exception as raised:  # botocore raises many types; classify them
            error = classify_exception(raised, secrets)
            if (getattr(error, "response", None) or {}).get("code") == "NotFoundException":
                continue
            return CheckStep("identity", False, str(error), _since(started), hint=_hint(error))
        if answer.get("VerifiedForSendingStatus"):
            return CheckStep("identity", True, f"{address.email}: {identity} is verified for sending", _since(started))
    return CheckStep(
        "identity",
        False,
        f"{address.email}: neither the address nor {address.ascii_domain} is verified in this region",
        _since(started),
        hint="verify the address or its domain in SES (console or CreateEmailIdentity) for this region",
    )


def _hint(error: MailcoreError) -> str:
    if isinstance(error, TransportRejected):
        return "check the access key and secret, and that the IAM policy allows ses:GetAccount"
    if isinstance(error, ConnectionFailed):
        return "the endpoint is unreachable; check endpoint_url, proxy and firewall"
    if isinstance(error, RateLimited):
        return "SES is throttling this account; try again shortly"
    return "see the SES answer above"
