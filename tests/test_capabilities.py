"""Capabilities: what a message needs, what a transport declares, and the check between them."""

from __future__ import annotations

import email
import email.policy
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore import Attachment, InvalidMessage, LocalTemplate, Mailer, Message
from mailcore.calendar import calendar_part
from mailcore.capabilities import CannotCarry, Capability, adapt, ensure_carriable, needs
from mailcore.errors import DeliveryFailed
from mailcore.html_text import html_to_text
from mailcore.policy.decisions import Verdict, breaker_verdict
from mailcore.render import render
from mailcore.transports.memory import MemoryTransport

ICS = "BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:1@x\nEND:VEVENT\nEND:VCALENDAR\n"


def message(**fields) -> Message:
    fields.setdefault("text", "hello")
    return Message("app@example.com", ["ann@example.org"], "Hi", **fields)


def test_needs_is_a_pure_function_of_the_message():
    assert needs(message()) == frozenset()
    full = message(
        template_id="t-1", tags=["a"], metadata={"k": "v"}, headers={"X-A": "1"},
        attachments=[Attachment("logo.png", b"x", inline=True)], calendar=ICS,
    )  # fmt: skip
    assert needs(full) == {
        Capability.PROVIDER_TEMPLATE, Capability.TAGS, Capability.METADATA, Capability.CUSTOM_HEADERS,
        Capability.INLINE_IMAGES, Capability.CALENDAR,
    }  # fmt: skip


def test_a_transport_lacking_a_need_is_skipped_with_the_reason_and_the_next_delivers():
    lacking = MemoryTransport("cap-lacking", lacks=["tags"])
    whole = MemoryTransport("cap-whole")
    result = Mailer([lacking, whole], retry=None).send(message(tags=["welcome"]))
    assert result.transport == "memory://cap-whole" and lacking.outbox == []
    [skip, delivered] = result.attempts
    assert isinstance(skip.error, CannotCarry) and skip.error.missing == {Capability.TAGS}
    assert str(skip.error) == "[memory://cap-lacking] cannot carry tags (tags)" and delivered.error is None
    assert whole.outbox[0].tags == ("welcome",)


def test_no_transport_can_carry_it_fails_before_any_attempt_naming_the_capability():
    a = MemoryTransport("cap-a", lacks=["provider_template"])
    b = MemoryTransport("cap-b", lacks=["provider_template", "tags"])
    with pytest.raises(InvalidMessage) as caught:
        Mailer([a, b], retry=None).send(Message("app@example.com", ["ann@example.org"], "", template_id="d-1"))
    text = str(caught.value)
    assert "memory://cap-a cannot carry a provider template (provider_template)" in text
    assert "local template" in text and a.outbox == [] and b.outbox == []


def test_allow_degraded_is_explicit_and_per_message():
    lacking = MemoryTransport("cap-degrade", lacks=["tags", "metadata"])
    result = Mailer(lacking, retry=None).send(
        message(tags=["t"], metadata={"k": "v"}, allow_degraded={"tags", "metadata"})
    )
    assert result.transport == "memory://cap-degrade"
    sent = lacking.outbox[0]
    assert sent.tags == () and sent.metadata == {}


def test_a_provider_template_cannot_be_allowed_to_degrade():
    with pytest.raises(InvalidMessage, match="give a local_template instead"):
        message(template_id="t", allow_degraded={"provider_template"})
    with pytest.raises(InvalidMessage, match="unknown capability 'amp'"):
        message(allow_degraded={"amp"})


def test_inline_images_degrade_to_ordinary_attachments():
    msg = message(attachments=[Attachment("logo.png", b"x", inline=True)], allow_degraded=["inline_images"])
    sent = adapt(msg, frozenset(), "x://")
    assert [a.inline for a in sent.attachments] == [False]


def test_a_skip_never_moves_the_breaker():
    assert breaker_verdict(CannotCarry([Capability.TAGS], transport="x")) is Verdict.NEUTRAL


def test_a_skip_is_logged_below_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="mailcore")
    lacking = MemoryTransport("cap-log", lacks=["tags"])
    Mailer([lacking, MemoryTransport("cap-log2")], retry=None).send(message(tags=["t"]))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_only_skips_is_a_permanent_failure_when_a_transport_is_called_directly():
    from mailcore.policy import Failover

    stack = Failover([MemoryTransport("cap-d1", lacks=["calendar"]), MemoryTransport("cap-d2", lacks=["calendar"])])
    with pytest.raises(DeliveryFailed) as caught:
        stack.send(message(calendar=ICS))
    assert not caught.value.transient
    assert all(isinstance(a.error, CannotCarry) for a in caught.value.attempts)
    with pytest.raises(InvalidMessage):
        ensure_carriable(stack, message(calendar=ICS))


# -- local templates --------------------------------------------------------------------------


def otp(**fields) -> Message:
    return Message(
        "auth@example.com", ["ann@example.org"], "", template_id="d-otp",
        template_data={"code": "482913", "name": "Ann <b>"}, **fields,
    )  # fmt: skip


LOCAL = LocalTemplate(
    subject="Code {{ code }}", text="Hi {{ name }}, {{ code }}", html="<p>{{ name }}</p>", engine="jinja2"
)


def test_the_provider_template_is_kept_where_it_is_supported():
    msg = otp(local_template=LOCAL)
    assert adapt(msg, frozenset(Capability), "sendgrid://") is msg


def test_the_local_template_renders_where_the_provider_template_cannot_go():
    sent = adapt(otp(local_template=LOCAL), frozenset(), "smtp://")
    assert (sent.template_id, sent.local_template) == (None, None)
    assert sent.subject == "Code 482913" and sent.text == "Hi Ann <b>, 482913"
    assert sent.html == "<p>Ann &lt;b&gt;</p>"


def test_a_local_template_alone_renders_everywhere():
    msg = Message("a@example.com", ["b@example.org"], "", local_template=LOCAL, template_data={"code": 1, "name": "N"})
    assert adapt(msg, frozenset(Capability), "sendgrid://").subject == "Code 1"


def test_jinja2_undefined_is_an_error_and_the_sandbox_holds():
    with pytest.raises(InvalidMessage, match="pin"):
        adapt(otp(local_template=LocalTemplate(text="{{ pin }}", engine="jinja2")), frozenset(), "x")
    evil = LocalTemplate(text="{{ ''.__class__.__mro__ }}", engine="jinja2")
    with pytest.raises(InvalidMessage):
        adapt(otp(local_template=evil), frozenset(), "x")


def test_new_fields_round_trip_through_to_dict():
    msg = otp(local_template=LOCAL, calendar=ICS, allow_degraded={"tags"}, auto_text=False)
    again = Message.from_dict(msg.to_dict())
    assert again.to_dict() == msg.to_dict()
    assert again.local_template == LOCAL and again.calendar == msg.calendar


def test_bulk_merge_fields_reach_a_local_template():
    from mailcore.bulk.model import BulkTemplate, Recipient

    template = BulkTemplate(
        Message("news@example.com", ["x@example.org"], "Hello {first}", local_template=LocalTemplate(
            text="Dear {{ first }}", engine="jinja2"))
    )  # fmt: skip
    recipient = Recipient("ann@example.org", fields={"first": "Ann"})
    sent = adapt(template.render(template.item(0, recipient)), frozenset(), "smtp://")
    assert sent.text == "Dear Ann" and sent.subject == "Hello Ann"


# -- text from HTML ---------------------------------------------------------------------------


def test_html_only_gets_text_unless_opted_out():
    html = "<h1>Hi</h1><p>Visit <a href='https://e.com/x'>us</a></p><ul><li>one</li></ul><script>x()</script>"
    assert adapt(message(text=None, html=html), frozenset(), "x").text == "Hi\n\nVisit us (https://e.com/x)\n\n- one\n"
    assert adapt(message(text=None, html=html, auto_text=False), frozenset(), "x").text is None


@given(st.text(alphabet=st.sampled_from(list("<>/ab pli=\"'&;#x\n")), max_size=200))
def test_html_to_text_never_raises_and_never_leaks_markup(html):
    text = html_to_text(html)
    assert isinstance(text, str) and "<script" not in text.lower()


# -- calendar ---------------------------------------------------------------------------------


def test_calendar_part_checks_the_payload():
    assert calendar_part(ICS).method == "REQUEST"
    with pytest.raises(InvalidMessage, match="BEGIN:VCALENDAR"):
        calendar_part("hello")
    with pytest.raises(InvalidMessage, match="no METHOD"):
        calendar_part("BEGIN:VCALENDAR\nEND:VCALENDAR")
    with pytest.raises(InvalidMessage, match="must agree"):
        calendar_part(ICS, method="CANCEL")


def test_calendar_renders_as_the_last_alternative():
    parsed = email.message_from_bytes(render(message(html="<p>x</p>", calendar=ICS)), policy=email.policy.default)
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html", "text/calendar"]
    assert parts[2].get_param("method") == "REQUEST"


# -- the docs table ---------------------------------------------------------------------------


def test_the_docs_table_matches_the_declared_capabilities():
    import importlib.util
    from pathlib import Path

    from mailcore.registry import KNOWN_PLUGINS
    from mailcore.testing import skip_or_fail

    if importlib.util.find_spec("mailcore_smtp") is None:
        skip_or_fail("the mailcore plugins are not installed")
    tool = Path(__file__).resolve().parents[1] / "tools" / "capabilities_table.py"
    spec = importlib.util.spec_from_file_location("capabilities_table", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.DOC.read_text("utf-8")
    assert module.expected(text) == text, "docs/capabilities.md is stale: run python tools/capabilities_table.py"
    assert set(KNOWN_PLUGINS) <= set(module.OWN_SCHEMES)


def test_transport_classes_declare_what_their_plugins_register():
    from mailcore.plugins import get_registry

    registry = get_registry()
    for scheme in ("smtp", "sendgrid", "ses", "mailgun", "console", "memory"):
        spec = registry.get(scheme)
        transport_cls = spec.load().__self__  # the factories are ``Class.from_url`` classmethods
        declared = {c.value for c in transport_cls.capabilities} if scheme != "memory" else set(spec.capabilities)
        assert declared == set(spec.capabilities), scheme
    assert {c.value for c in MemoryTransport("cap-all").capabilities} == set(registry.get("memory").capabilities)


# -- tag headers ------------------------------------------------------------------------------

_WORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(st.lists(_WORDS, max_size=5), st.dictionaries(_WORDS, _WORDS, max_size=5))
def test_neutral_tag_headers_are_7bit_and_round_trip_through_a_parser(tags, metadata):
    import json

    from mailcore.tag_headers import neutral_tag_headers

    try:
        msg = message(tags=tags, metadata=metadata)
    except InvalidMessage:
        return  # a value the message itself refuses (e.g. a line separator) never gets this far
    headers = neutral_tag_headers(msg)
    for _, value in headers:
        assert value.isascii() and "\r" not in value and "\n" not in value and "=?" not in value
    parsed = email.message_from_bytes(render(msg, extra_headers=headers), policy=email.policy.default)
    if tags:
        assert json.loads(parsed["X-Mailcore-Tags"]) == list(dict.fromkeys(tags))
    if metadata:
        assert json.loads(parsed["X-Mailcore-Metadata"]) == metadata


def test_a_branch_that_cannot_carry_is_skipped_before_its_rate_limit_and_breaker():
    from mailcore.policy import CircuitBreaker, Failover, RateLimit, parse_rate
    from mailcore.policy.state import MemoryStore

    lacking = MemoryTransport("cap-branch", lacks=["tags"])
    limited = RateLimit(lacking, parse_rate("1/h"), store=MemoryStore())
    guarded = CircuitBreaker(limited, store=MemoryStore())
    stack = Failover([guarded, MemoryTransport("cap-branch-ok")])
    for _ in range(3):
        result = stack.send(message(tags=["t"]))
        assert isinstance(result.attempts[0].error, CannotCarry) and result.attempts[0].duration == 0.0
    assert lacking.outbox == [] and limited.available()  # no slot taken, breaker untouched
    stack.send(message())  # a message it can carry still goes through it
    assert len(lacking.outbox) == 1
