"""Differential test: mailcore's renderer against the stdlib's (``EmailMessage``, ``policy.SMTP``).

Random messages (text, HTML, both; attachments of several kinds, inline images, non-ASCII
everywhere, long lines, CR/LF mixes, trailing newlines) are rendered by both; each result is
parsed back with ``policy.default`` and must give the same decoded headers, the same bodies
and the same attachment bytes, types, file names and content ids. MIME structure and
transfer encodings may differ (that is the point of a fast renderer); what a reader gets may
not. Runs with ``DIFFERENTIAL_EXAMPLES`` examples (200) in CI.

Headers are compared with the truth (the Message's own fields) for both renderers. Where
the stdlib itself mangles an address list (it can encode the separating comma, merging two
addresses) only its unstructured headers are compared. Two stdlib behaviours are normalized
before comparing bodies:
``set_content`` adds a final line break to a text without one (mailcore sends the text as
given), and it splits lines on Unicode line separators (``\\u2028``, ``\\x0b``…), which are
therefore left out of the generated bodies.
"""

from __future__ import annotations

import email
import email.policy
import os
from email.headerregistry import Address as StdAddress
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcore import Attachment, Message
from mailcore.render import render

DIFFERENTIAL_EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "200"))

_NOT_LINE_BREAKS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85\x1c\x1d\x1e")
_HEADER_TEXT = st.text(_NOT_LINE_BREAKS, min_size=1, max_size=120).map(str.strip).filter(bool)
_NAME = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs"), blacklist_characters='"\\\x85'),
    max_size=30,
)
_LOCAL = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8})?", fullmatch=True)
_DOMAIN = st.sampled_from(["example.com", "example.org", "mail.example.net"])
_LINE = st.one_of(
    st.text(_NOT_LINE_BREAKS, max_size=80),
    st.text(_NOT_LINE_BREAKS, min_size=1, max_size=40).map(lambda s: s * (1000 // len(s) + 1)),  # > 998 octets
    st.just(".leading dot"),
    st.just("trailing space   "),
)
_BREAK = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def body(draw: st.DrawFn) -> str:
    lines = draw(st.lists(_LINE, min_size=0, max_size=6))
    text = "".join(line + draw(_BREAK) for line in lines)
    if draw(st.booleans()) and text:
        text = text.rstrip("\r\n")  # no trailing newline
    return text


@st.composite
def address(draw: st.DrawFn) -> tuple[str, str]:
    return draw(_NAME).strip(), f"{draw(_LOCAL)}@{draw(_DOMAIN)}"


_FORWARDED = b"From: a@example.com\r\nSubject: forwarded\r\n\r\nthe forwarded body\r\n"


@st.composite
def attachment(draw: st.DrawFn, inline: bool) -> Attachment:
    filename = draw(st.one_of(st.just(""), _HEADER_TEXT))
    if inline:
        return Attachment(
            filename,
            draw(st.binary(max_size=300)),
            "image/png",
            inline=True,
            content_id=f"img{draw(st.integers(0, 999))}@x",
        )
    kind = draw(st.sampled_from(["binary", "text", "rfc822"]))
    if kind == "text":  # a text file: LF line breaks and a final one, as set_content writes it
        text = draw(body()).replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"
        return Attachment(filename, text.encode("utf-8"), "text/plain")
    if kind == "rfc822":
        return Attachment(filename, _FORWARDED, "message/rfc822")
    return Attachment(
        filename,
        draw(st.binary(max_size=3000)),
        draw(st.sampled_from(["application/pdf", "application/octet-stream", "image/jpeg"])),
    )


@st.composite
def messages(draw: st.DrawFn) -> Message:
    shape = draw(st.sampled_from(["text", "html", "both"]))
    text = draw(body()) if shape in ("text", "both") else None
    html = draw(body()) if shape in ("html", "both") else None
    inline = draw(st.lists(attachment(True), max_size=2)) if html is not None else []
    attached = draw(st.lists(attachment(False), max_size=3))
    inline = list({a.content_id: a for a in inline}.values())
    return Message(
        draw(address()),
        draw(st.lists(address(), min_size=1, max_size=3)),
        draw(_HEADER_TEXT),
        text=text,
        html=html,
        cc=draw(st.lists(address(), max_size=2)),
        reply_to=draw(st.lists(address(), max_size=1)),
        attachments=[*inline, *attached],
        headers={"X-Note": draw(_HEADER_TEXT)},
    )


def stdlib_render(message: Message) -> bytes:
    """The same message built with the stdlib's modern API and serialized with policy.SMTP."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = _std(message.from_email)
    msg["To"] = [_std(a) for a in message.to]
    if message.cc:
        msg["Cc"] = [_std(a) for a in message.cc]
    if message.reply_to:
        msg["Reply-To"] = [_std(a) for a in message.reply_to]
    msg["Subject"] = message.subject
    msg["X-Note"] = message.headers["X-Note"]
    if message.text is not None:
        msg.set_content(message.text)
    if message.html is not None:
        if message.text is not None:
            msg.add_alternative(message.html, subtype="html")
        else:
            msg.set_content(message.html, subtype="html")
    html_part = msg.get_body(("html",))
    for att in message.attachments:
        maintype, subtype = att.mimetype.split("/")
        options = {"filename": att.filename} if att.filename else {}
        if att.inline:
            assert html_part is not None
            html_part.add_related(att.content, maintype, subtype, cid=f"<{att.content_id}>", **options)
        elif att.mimetype == "message/rfc822":
            msg.add_attachment(email.message_from_bytes(att.content, policy=email.policy.SMTP), **options)
        elif maintype == "text":
            msg.add_attachment(att.content.decode("utf-8"), subtype=subtype, **options)
        else:
            msg.add_attachment(att.content, maintype, subtype, **options)
    return msg.as_bytes()


def _std(addr) -> StdAddress:
    return StdAddress(display_name=addr.name, addr_spec=addr.ascii_email)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def headers(parsed: EmailMessage) -> dict[str, object]:
    out: dict[str, object] = {"Subject": str(parsed["Subject"]), "X-Note": str(parsed["X-Note"])}
    for name in ("From", "To", "Cc", "Reply-To"):
        field = parsed[name]
        # generated names hold no whitespace: the stdlib parser reads a space between some
        # adjacent encoded words of a long name (RFC 2047 §6.2 says to drop it), so drop it here
        out[name] = [("".join(a.display_name.split()), a.addr_spec) for a in field.addresses] if field else []
    return out


def bodies(parsed: EmailMessage) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for kind in ("plain", "html"):
        part = parsed.get_body((kind,))
        out[kind] = None if part is None else part.get_content()
    return out


def attachments(parsed: EmailMessage) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for part in parsed.walk():
        if part.is_multipart() or part.get_content_disposition() not in ("attachment", "inline"):
            continue
        if part.get_content_type() == "message/rfc822":
            inner = part.get_content()
            content: object = (str(inner["Subject"]), inner.get_content())
        elif part.get_content_maintype() == "text":  # canonical CRLF line breaks read back as LF
            content = part.get_payload(decode=True).replace(b"\r\n", b"\n")
        else:
            content = part.get_payload(decode=True)
        out.append((part.get_content_type(), part.get_filename(), part["Content-ID"], content))
    return sorted(out, key=repr)


#: The stdlib (3.11-3.12 here) folds a list whose first address has a long encoded name by
#: encoding the separating comma as an encoded word, which merges two addresses into one.
_STDLIB_COMMA_DEFECT = b"=?utf-8?q?=2C?="


def _groups(message: Message) -> list[tuple[str, tuple]]:
    return [("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)]


def _stdlib_line_break(text: str | None, theirs: str | None) -> str | None:
    """Undo the final line break ``set_content`` adds to a text that had none."""
    if text is None or theirs is None:
        return theirs
    theirs = theirs.replace("\r\n", "\n")
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalized.endswith("\n") and theirs.endswith("\n"):
        return theirs[:-1]
    return theirs


@settings(max_examples=DIFFERENTIAL_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_mailcore_and_stdlib_deliver_the_same_message(message: Message) -> None:
    ours = parse(render(message).replace(b"\r\n", b"\n"))
    stdlib_bytes = stdlib_render(message)
    theirs = parse(stdlib_bytes.replace(b"\r\n", b"\n"))
    truth = {
        "Subject": message.subject,
        "X-Note": message.headers["X-Note"],
        "From": [(message.from_email.name, message.from_email.ascii_email)],
        **{name: [(a.name, a.ascii_email) for a in group] for name, group in _groups(message)},
    }
    assert headers(ours) == truth
    stdlib_headers = headers(theirs)
    if _STDLIB_COMMA_DEFECT in stdlib_bytes:  # the stdlib lost an address: compare the rest
        stdlib_headers = {k: v for k, v in stdlib_headers.items() if k in ("Subject", "X-Note")}
    assert stdlib_headers == {k: truth[k] for k in stdlib_headers}
    expected = bodies(theirs)
    expected["plain"] = _stdlib_line_break(message.text, expected["plain"])
    expected["html"] = _stdlib_line_break(message.html, expected["html"])
    got = {k: v.replace("\r\n", "\n") if v else v for k, v in bodies(ours).items()}
    assert got == expected
    assert attachments(ours) == attachments(theirs)
