"""``mailcore check`` for ses:// against the scripted SES v2 server (moto has no GetAccount)."""

from __future__ import annotations

from click.testing import CliRunner

from mailcore_ses.transport import SesTransport

REGION = "eu-west-1"
ACCOUNT = {
    "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 3.0},
    "ProductionAccessEnabled": False,
    "SendingEnabled": True,
    "EnforcementStatus": "HEALTHY",
}


def steps_of(transport, **kwargs):
    return {step.name: step for step in transport.check(**kwargs)}


def test_check_reports_every_step_with_quota_and_sandbox(scripted):
    scripted.reply(body=ACCOUNT)
    scripted.error(404, "NotFoundException", "Email identity <sender@example.com> does not exist.")
    scripted.reply(body={"IdentityType": "DOMAIN", "VerifiedForSendingStatus": True})
    steps = steps_of(
        SesTransport(region=REGION, endpoint_url=scripted.endpoint), from_email="Sender <sender@example.com>"
    )
    assert list(steps) == ["endpoint", "dns", "tcp", "credentials", "sending", "identity"]
    assert all(step.ok for step in steps.values()), steps
    assert scripted.endpoint in steps["endpoint"].detail
    assert "Max24HourSend=200 MaxSendRate=1/s SentLast24Hours=3" in steps["credentials"].detail
    assert "sandbox" in steps["credentials"].detail
    assert "example.com is verified" in steps["identity"].detail
    paths = [(r.method, r.path) for r in scripted.requests]
    assert paths == [
        ("GET", "/v2/email/account"),
        ("GET", "/v2/email/identities/sender%40example.com"),
        ("GET", "/v2/email/identities/example.com"),
    ]


def test_unverified_sender_fails_the_identity_step(scripted):
    scripted.reply(body={**ACCOUNT, "ProductionAccessEnabled": True})
    scripted.reply(body={"IdentityType": "EMAIL_ADDRESS", "VerifiedForSendingStatus": False})
    scripted.error(404, "NotFoundException", "no such identity")
    steps = steps_of(SesTransport(region=REGION, endpoint_url=scripted.endpoint), from_email="sender@example.com")
    assert "production access" in steps["credentials"].detail
    assert not steps["identity"].ok and "verify" in steps["identity"].hint


def test_sender_comes_from_mailcore_from(scripted, monkeypatch):
    monkeypatch.setenv("MAILCORE_FROM", "sender@example.com")
    scripted.reply(body=ACCOUNT)
    scripted.reply(body={"VerifiedForSendingStatus": True})
    assert steps_of(SesTransport(region=REGION, endpoint_url=scripted.endpoint))["identity"].ok


def test_bad_credentials_fail_the_check_without_showing_them(scripted):
    key, secret = "AKIAFAKE0123456789", "fakesecretvalue"
    scripted.error(403, "UnrecognizedClientException", f"The security token included in the request is invalid ({key})")
    transport = SesTransport(region=REGION, endpoint_url=scripted.endpoint, access_key_id=key, secret_access_key=secret)
    steps = list(transport.check())
    assert [s.name for s in steps] == ["endpoint", "dns", "tcp", "credentials"]
    failed = steps[-1]
    assert not failed.ok and "access key" in failed.hint
    shown = " ".join(f"{s.detail} {s.hint}" for s in steps)
    assert key not in shown and secret not in shown


def test_keys_without_get_account_permission_are_still_valid(scripted):
    scripted.error(403, "AccessDeniedException", "not authorized to perform: ses:GetAccount")
    steps = steps_of(SesTransport(region=REGION, endpoint_url=scripted.endpoint))
    assert steps["credentials"].ok and "quota unknown" in steps["credentials"].detail


def test_paused_account_fails_the_sending_step(scripted):
    scripted.reply(body={**ACCOUNT, "SendingEnabled": False})
    steps = steps_of(SesTransport(region=REGION, endpoint_url=scripted.endpoint))
    assert steps["credentials"].ok and not steps["sending"].ok


def test_unreachable_endpoint_fails_at_tcp(closed_port):
    steps = list(SesTransport(region=REGION, endpoint_url=f"http://127.0.0.1:{closed_port}", timeout=2).check())
    assert [s.name for s in steps] == ["endpoint", "dns", "tcp"]
    assert not steps[-1].ok


def test_tls_step_against_https_endpoint(tls_scripted):
    tls_scripted.reply(body=ACCOUNT)
    transport = SesTransport(region=REGION, endpoint_url=tls_scripted.endpoint, cafile=tls_scripted.cafile)
    steps = steps_of(transport)
    assert steps["tls"].ok and "TLS" in steps["tls"].detail
    assert steps["credentials"].ok
    untrusted = steps_of(SesTransport(region=REGION, endpoint_url=tls_scripted.endpoint))
    assert not untrusted["tls"].ok and "cafile" in untrusted["tls"].hint


def test_missing_region_fails_the_endpoint_step(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    (step,) = list(SesTransport().check())
    assert step.name == "endpoint" and not step.ok and "region" in step.hint


def test_mailcore_check_command_prints_the_steps(scripted):
    from mailcore.cli.check import command

    scripted.reply(body=ACCOUNT)
    result = CliRunner().invoke(command, [scripted.url()])
    assert result.exit_code == 0, result.output
    assert "credentials" in result.output and "Max24HourSend=200" in result.output
