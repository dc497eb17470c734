"""Run Django's own ``tests/mail`` against mailcore's EMAIL_BACKEND (``nox -s django_suite``).

Usage (inside a venv holding exactly the Django version whose sdist ``tests/`` is given)::

    python tools/django_suite.py TESTS_DIR --backend django   --out django.json
    python tools/django_suite.py TESTS_DIR --backend mailcore --out mailcore.json --baseline django.json

Two groups of Django's tests are run, unchanged:

* **backend tests**: ``SMTPBackendTests`` against a real aiosmtpd on 127.0.0.1. With
  ``--backend mailcore`` the class's backend (``email_backend`` on 5.2, ``backend_class`` on
  6.1, and the ``smtp`` module the tests construct ``smtp.EmailBackend`` from) is mailcore's.
* **message tests**: ``MailTests``/``MailTimeZoneTests`` (5.2) or ``EmailMessageTests`` (6.1).
  With ``--backend mailcore`` Django's ``EmailMessage.message()`` is answered by what mailcore
  actually delivered: the message is sent through ``mailcore.adapters.django.EmailBackend`` to a
  second aiosmtpd, and the bytes that arrived are parsed back (compat32 on 5.2, as Django 5.2's
  ``message()`` returns; ``policy.default`` on 6.1).

A message test is *applicable* when it calls ``message()`` in the Django run (the baseline):
the other tests check Django's own objects, not what is delivered. A backend test is
applicable unless :data:`NOT_APPLICABLE` says it inspects the internals of Django's
smtplib-based backend. The mailcore run fails (exit 1) when an applicable test fails that
:data:`DELIBERATE` does not list; a listed test that passes is reported as stale.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import email
import email.policy
import json
import socket
import sys
import types
import unittest
from pathlib import Path
from typing import Any

#: Tests that check how Django builds things rather than what is delivered; matched by method
#: name. Backend tests reading attributes or mocks of Django's smtplib backend
#: (``backend.connection``, ``_partial_connection``, ``use_tls``, ``timeout``, ``smtplib.SMTP.send``)
#: test that implementation; mailcore's backend holds a transport URL instead.
NOT_APPLICABLE: dict[str, str] = {
    **{
        name: "reads attributes or mocks of Django's smtplib backend"
        for name in (
            "test_email_authentication_use_settings",
            "test_email_authentication_override_settings",
            "test_email_disabled_authentication",
            "test_server_open",
            "test_reopen_connection",
            "test_reopen_replaces_partial_connection",
            "test_email_tls_use_settings",
            "test_email_tls_override_settings",
            "test_email_tls_default_disabled",
            "test_email_ssl_use_settings",
            "test_email_ssl_override_settings",
            "test_email_ssl_default_disabled",
            "test_email_ssl_certfile_use_settings",
            "test_email_ssl_certfile_override_settings",
            "test_email_ssl_certfile_default_disabled",
            "test_email_ssl_keyfile_use_settings",
            "test_email_ssl_keyfile_override_settings",
            "test_email_ssl_keyfile_default_disabled",
            "test_ssl_context_uses_ssl_certfile_and_keyfile",
            "test_connection_timeout_default",
            "test_connection_timeout_custom",
            "test_email_timeout_use_settings",
            "test_email_timeout_override_settings",
            "test_smtp_connection_uses_timeout",
            "test_smtp_connection_uses_host_and_port",
            "test_email_host_use_settings",
            "test_email_host_override_settings",
            "test_email_msg_uses_crlf",
            "test_serialized_message_uses_crlf_line_ending",
            "test_send_messages_after_open_failed",
            "test_prep_address_without_force_ascii",
            "test_ignores_settings_when_initialized_with_alias",
            "test_direct_construction_deprecated",
            "test_port_default_adapts_to_security",
        )
    },
    "test_email_tls_attempts_starttls": "reads attributes or mocks of Django's smtplib backend",
    "test_email_ssl_attempts_ssl_connection": "reads attributes or mocks of Django's smtplib backend",
    "test_decoded_attachment_text_MIMEPart": "compares object identity with the attached MIMEPart",
    "test_decoded_attachments_MIMEText": "compares object identity with the attached MIMEText",
    "test_nonascii_as_string_with_ascii_charset": "mocks Django's MIMEText.set_payload",
    "test_message_policy_compat32": "serializes message(policy=...) itself; a backend does not choose it",
    "test_message_policy_cte_7bit": "serializes message(policy=...) itself; a backend does not choose it",
    "test_message_policy_smtputf8": "serializes message(policy=...) itself; a backend does not choose it",
}

#: Deliberate differences from Django's SMTP backend: test name → (reason, what a user sees).
#: docs/django.md carries the same table; keep them in step.
_STRICT = (
    "strict addresses: forms that parsers read differently (CVE-2023-27043) and addresses "
    "without a domain, which cannot be delivered, are refused",
    "InvalidEmailMessage (a ValueError and BadHeaderError) before anything is sent",
)
_NEVER_8BIT = (
    "bodies are never 8bit: quoted-printable or base64 (whichever is shorter) keep the "
    "message 7-bit clean through any relay without 8BITMIME",
    "the same text; Content-Transfer-Encoding is quoted-printable/base64 where Django writes 8bit",
)
_TO_CC_OVERRIDE = (
    "a Message has one recipient list per field and provider APIs cannot show a To/Cc that differs from the recipients",
    "the To/Cc headers list the real recipients; a warning is logged on the mailcore logger",
)
_MESSAGE_ID = (
    "a Message-ID must be <unique@domain> (RFC 5322 §3.6.4): providers and threading rely on it",
    "InvalidEmailMessage for a Message-ID header like 'foo'",
)
DELIBERATE: dict[str, tuple[str, str]] = {
    "test_address_header_handling": _STRICT,
    "test_lazy_addresses": _STRICT,
    "test_localpart_only_address": _STRICT,
    "test_recipient_without_domain": _STRICT,
    "test_body_content_transfer_encoding": _NEVER_8BIT,
    "test_encoding": _NEVER_8BIT,
    "test_cc_headers": _TO_CC_OVERRIDE,
    "test_cc_in_headers_only": _TO_CC_OVERRIDE,
    "test_to_header": _TO_CC_OVERRIDE,
    "test_to_in_headers_only": _TO_CC_OVERRIDE,
    "test_send_long_lines": _NEVER_8BIT,
    "test_message_header_overrides": _MESSAGE_ID,
    "test_folding_white_space": (
        "long headers are folded so no line passes 78 characters, the header name included (RFC 5322 §2.2.3)",
        "none once unfolded; the fold falls one word earlier than Django 5.2's",
    ),
    "test_date_header_utc": (
        "the Date zone is +0000 (UTC, known); Django 5.2 writes -0000 ('zone unknown', RFC 5322 §3.3)",
        "the same instant; readers show it in UTC rather than as 'unknown zone'",
    ),
    "test_encoding_alternatives": (
        "MIME-Version appears once, in the message header (RFC 2045 §4); Django 5.2 repeats it in every part",
        "none",
    ),
    "test_none_body": (
        "a body is sent exactly as given; Django 6.1 (the stdlib's set_content) adds a line break to an empty one",
        "an empty body arrives empty rather than as one empty line",
    ),
    "test_non_utf8_headers_multipart": _MESSAGE_ID,
    "test_alternative_alternatives": (
        "only text/plain and text/html bodies: provider APIs carry no other alternative, and mailcore never "
        "drops one silently",
        "InvalidEmailMessage naming the alternative",
    ),
    "test_non_ascii_dns_non_unicode_email": (
        "the Message-ID domain is the sender's domain, not the host name: no internal host name leaks",
        "Message-ID ends in @<from_email domain>",
    ),
    "test_mime_structure": (
        "a message whose only body is one alternative sends that body itself, not a one-part multipart/alternative",
        "none in a mail reader; the MIME tree is one level shorter",
    ),
    "test_auth_attempted": (
        "open() does not connect: sessions are opened on the first send and pooled",
        "a missing AUTH or a wrong password is raised by the first send, as a mailcore SendError",
    ),
    "test_rejects_non_ascii_local_part": (
        "a UTF-8 local part is sent with SMTPUTF8 (RFC 6531) when the server offers it",
        "delivered where the server offers SMTPUTF8; else MessageRejected (a SendError), not ValueError",
    ),
    "test_unknown_kwargs_ignored": (
        "an unknown option is a typo until proven otherwise",
        "ImproperlyConfigured at start-up instead of Django 6.1's deprecation warning",
    ),
}


# -- the SMTP sink ------------------------------------------------------------------------------


class Sink:
    """An aiosmtpd handler that keeps every message's envelope and bytes."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def start_sink() -> tuple[Any, Sink]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    return controller, sink


# -- swapping mailcore in -------------------------------------------------------------------------

_MESSAGE_CALLS: list[str] = []
_CURRENT: list[str] = [""]


def patch_message(backend: str, legacy: bool) -> None:
    """Record which tests call ``EmailMessage.message()``; with mailcore, answer it by delivery."""
    from django.core.mail import message as django_message

    original = django_message.EmailMessage.message
    if backend == "django":

        def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
            _MESSAGE_CALLS.append(_CURRENT[0])
            return original(self, *args, **kwargs)

        django_message.EmailMessage.message = recorded
        return

    controller, sink = start_sink()
    url = f"smtp://127.0.0.1:{controller.port}?tls=none"

    def delivered(self: Any, *args: Any, **kwargs: Any) -> Any:
        from mailcore.adapters.django import EmailBackend

        _MESSAGE_CALLS.append(_CURRENT[0])
        outgoing = self
        if not self.recipients():  # Django renders a message without recipients; nothing sends one
            outgoing = copy.copy(self)
            outgoing.bcc = ["harness@localhost.example"]
        before = len(sink.messages)
        backend = EmailBackend(url=url)
        # converting a message that attaches another calls the inner one's message() first:
        # the outer message is the last to arrive
        if backend.send_messages([outgoing]) != 1 or len(sink.messages) <= before:
            raise AssertionError("mailcore did not deliver the message")
        data = sink.messages[-1][2].replace(b"\r\n", b"\n")
        if legacy:  # as Django 5.2's own SMTP test handler reads what arrived: without the final
            return email.message_from_bytes(data.rstrip())  # CRLF that SMTP's DATA adds
        return email.message_from_bytes(data, policy=email.policy.default)

    django_message.EmailMessage.message = delivered


def swap_backend(module: types.ModuleType, cls: type) -> type:
    """A subclass of Django's ``SMTPBackendTests`` that builds mailcore's backend instead."""
    from mailcore.adapters.django import EmailBackend

    module.smtp = types.SimpleNamespace(EmailBackend=EmailBackend)  # type: ignore[attr-defined]
    attrs: dict[str, Any] = {"__module__": module.__name__}
    if hasattr(cls, "backend_class"):
        attrs["backend_class"] = EmailBackend
    else:
        attrs["email_backend"] = "mailcore.adapters.django.EmailBackend"
    return type(cls.__name__, (cls,), attrs)


# -- running ------------------------------------------------------------------------------------


class Recorder(unittest.TestResult):
    """Outcome per test method (subtests fold into their test)."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, dict[str, str]] = {}

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        _CURRENT[0] = test.id()
        self.outcomes.setdefault(test.id(), {"outcome": "pass"})

    def _fail(self, test: Any, err: Any, kind: str) -> None:
        entry = self.outcomes.setdefault(test.id(), {"outcome": "pass"})
        if entry["outcome"] == "pass":
            text = self._exc_info_to_string(err, test).strip()
            entry["outcome"] = kind
            entry["detail"] = next((line for line in text.splitlines() if "Error" in line), text)[-300:]
            entry["traceback"] = text[-4000:]

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._fail(test, err, "fail")

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._fail(test, err, "error")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(test, err, "fail")

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self.outcomes[test.id()] = {"outcome": "skip", "detail": reason}

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = {"outcome": "pass"}


def configure_django() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="django-suite",  # noqa: S106  (a test settings value)
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        DEFAULT_FROM_EMAIL="webmaster@localhost",
    )
    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.core.mail.utils import DNS_NAME

    DNS_NAME.get_fqdn()  # some tests delete the cached name, which only exists once it was read


def load(backend: str) -> tuple[list[type], list[type], bool]:
    """(message test classes, backend test classes, legacy?) for the installed Django."""
    import django

    legacy = django.VERSION < (6, 0)
    tests = __import__("mail.tests", fromlist=["tests"])
    if legacy:
        message_classes = [tests.MailTests, tests.MailTimeZoneTests]
        backend_module = tests
    else:
        message_classes = [tests.EmailMessageTests]
        backend_module = __import__("mail.test_backends", fromlist=["test_backends"])
    smtp_tests = backend_module.SMTPBackendTests
    if backend == "mailcore":
        smtp_tests = swap_backend(backend_module, smtp_tests)
    return message_classes, [smtp_tests], legacy


def run(classes: list[type]) -> dict[str, dict[str, str]]:
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(cls) for cls in classes)
    result = Recorder()
    suite.run(result)
    return result.outcomes


def short(test_id: str) -> str:
    """``mail.tests.MailTests.test_x`` → ``MailTests.test_x``."""
    return ".".join(test_id.split(".")[-2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests_dir", type=Path, help="the tests/ directory of the Django sdist")
    parser.add_argument("--backend", choices=("django", "mailcore"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, help="the django run's JSON (which message tests apply)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.tests_dir.resolve()))
    configure_django()
    message_classes, backend_classes, legacy = load(args.backend)
    patch_message(args.backend, legacy)
    messages = run(message_classes)
    called = {short(t) for t in _MESSAGE_CALLS}
    backends = run(backend_classes)
    import django

    report = {
        "django": django.get_version(),
        "backend": args.backend,
        "message": {short(t): v for t, v in messages.items()},
        "smtp": {short(t): v for t, v in backends.items()},
        "calls_message": sorted(called),
    }
    args.out.write_text(json.dumps(report, indent=1, sort_keys=True))
    if args.baseline is None:
        return 0
    return summarize(json.loads(args.baseline.read_text()), report)


def applicable(baseline: dict[str, Any]) -> tuple[set[str], set[str]]:
    message = set(baseline["calls_message"]) & set(baseline["message"])
    message = {t for t in message if t.rsplit(".", 1)[-1] not in NOT_APPLICABLE}
    smtp = {t for t in baseline["smtp"] if t.rsplit(".", 1)[-1] not in NOT_APPLICABLE}
    smtp = {t for t in smtp if baseline["smtp"][t]["outcome"] != "skip"}
    return message, smtp


def summarize(baseline: dict[str, Any], ours: dict[str, Any]) -> int:
    """Print the before/after table and every failure; 1 when an undocumented one remains."""
    message_set, smtp_set = applicable(baseline)
    rows = []
    unexpected: list[str] = []
    stale: list[str] = []
    for group, tests in (("smtp", smtp_set), ("message", message_set)):
        django_ok = sum(baseline[group][t]["outcome"] == "pass" for t in tests)
        ours_ok = sum(ours[group].get(t, {}).get("outcome") == "pass" for t in tests)
        rows.append((group, len(tests), django_ok, ours_ok))
        for test in sorted(tests):
            outcome = ours[group].get(test, {"outcome": "missing"})
            name = test.rsplit(".", 1)[-1]
            if outcome["outcome"] != "pass" and baseline[group][test]["outcome"] == "pass":
                if name in DELIBERATE:
                    print(f"  deliberate  {test}: {DELIBERATE[name][0]}")
                else:
                    unexpected.append(f"{test}: {outcome.get('detail', outcome['outcome'])}")
            elif outcome["outcome"] == "pass" and name in DELIBERATE:
                stale.append(test)
    print(f"\nDjango {ours['django']}: applicable tests passing, Django's SMTP backend vs mailcore")
    print("| group | applicable | Django | mailcore |")
    print("|---|---|---|---|")
    for group, total, django_ok, ours_ok in rows:
        label = "backend (SMTPBackendTests)" if group == "smtp" else "message (message() = what was delivered)"
        print(f"| {label} | {total} | {django_ok}/{total} | {ours_ok}/{total} |")
    for test in stale:
        print(f"  passes on this Django: {test} (listed in DELIBERATE for another version)")
    for line in unexpected:
        print(f"  UNEXPECTED FAILURE {line}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
