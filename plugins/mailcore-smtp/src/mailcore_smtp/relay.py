"""Tags and metadata as SMTP headers, in the form the receiving relay reads (pure functions).

Over SMTP there is no API field for tags and metadata, so they travel as headers. Which headers
depends on who reads them:

=====================  ===================================  ======================================
relay (``?relay=``)    chosen when the host is              headers written
=====================  ===================================  ======================================
``neutral``            any other host                       ``X-Mailcore-Tags: ["a", "b"]``,
                                                            ``X-Mailcore-Metadata: {"k": "v"}``
``sendgrid``           ``smtp.sendgrid.net``                ``X-SMTPAPI: {"category": [...],
                                                            "unique_args": {..., "mailcore_id"}}``
``mailgun``            ``smtp.mailgun.org``,                one ``X-Mailgun-Tag`` per tag,
                       ``smtp.eu.mailgun.org``              ``X-Mailgun-Variables: {..., "mailcore_id"}``
``ses``                ``email-smtp.<region>.amazonaws.com``  ``X-SES-MESSAGE-TAGS: a=true, k=v,
                                                            mailcore-id=…``
=====================  ===================================  ======================================

The relay forms carry the same names the API transports use (SendGrid ``custom_args``, Mailgun
``v:`` variables, SES ``EmailTags``, each with mailcore's correlation id), so a webhook sees the
same tags whichever path a message took. Values are JSON with every non-ASCII character escaped
(``\\uXXXX``), so a header is 7-bit, cannot contain CR or LF, and folds at spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from mailcore.errors import ConfigurationError, InvalidMessage
from mailcore.message import Message
from mailcore.tag_headers import checked_extra_headers, header_json, neutral_tag_headers

__all__ = ["RELAYS", "relay_for_host", "tag_headers"]

RELAYS = ("neutral", "sendgrid", "mailgun", "ses")
CORRELATION_KEY = "mailcore_id"  # as in SendGrid custom_args and Mailgun v: variables
SES_CORRELATION_TAG = "mailcore-id"
SENDGRID_MAX_CATEGORIES = 10
SENDGRID_MAX_UNIQUE_ARGS_BYTES = 10_000
_SES_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SES_NOT_TAG = re.compile(r"[^A-Za-z0-9_-]")
_HOSTS = (
    (re.compile(r"smtp\.sendgrid\.net"), "sendgrid"),
    (re.compile(r"smtp(\.eu)?\.mailgun\.org"), "mailgun"),
    (re.compile(r"email-smtp(-fips)?\.[a-z0-9-]+\.amazonaws\.com"), "ses"),
)

Headers = list[tuple[str, str]]


def relay_for_host(host: str, override: str | None = None) -> str:
    """The header convention for ``host``: ``override`` (``?relay=``) if given, else by name."""
    if override is not None:
        if override not in RELAYS:
            raise ConfigurationError(f"relay={override!r}; choose one of {', '.join(RELAYS)}")
        return override
    name = host.lower().rstrip(".")
    for pattern, relay in _HOSTS:
        if pattern.fullmatch(name):
            return relay
    return "neutral"


def tag_headers(message: Message, relay: str) -> Headers:
    """The headers carrying ``message``'s tags and metadata for ``relay`` (none without any)."""
    if relay == "neutral":
        return neutral_tag_headers(message)
    if relay == "sendgrid":
        return checked_extra_headers(message, _sendgrid(message))
    if relay == "mailgun":
        return checked_extra_headers(message, _mailgun(message))
    if relay == "ses":
        return checked_extra_headers(message, _ses(message))
    raise ConfigurationError(f"relay={relay!r}; choose one of {', '.join(RELAYS)}")


def _sendgrid(message: Message) -> Headers:
    categories = list(dict.fromkeys(message.tags))
    if len(categories) > SENDGRID_MAX_CATEGORIES:
        raise InvalidMessage(
            "tags", f"{len(categories)} tags; SendGrid takes at most {SENDGRID_MAX_CATEGORIES} categories"
        )
    unique_args = {**message.metadata, CORRELATION_KEY: message.correlation_id}
    size = len(json.dumps(unique_args, ensure_ascii=False).encode("utf-8"))
    if size >= SENDGRID_MAX_UNIQUE_ARGS_BYTES:
        raise InvalidMessage("metadata", f"{size:,} bytes; SendGrid unique_args must stay under 10,000 bytes")
    smtpapi: dict[str, object] = {"unique_args": unique_args}
    if categories:
        smtpapi["category"] = categories
    return [("X-SMTPAPI", header_json(smtpapi))]


def _mailgun(message: Message) -> Headers:
    headers: Headers = [
        ("X-Mailgun-Tag", _ascii_tag(tag, f"tags[{i}]")) for i, tag in enumerate(dict.fromkeys(message.tags))
    ]
    variables = {**message.metadata, CORRELATION_KEY: message.correlation_id}
    headers.append(("X-Mailgun-Variables", header_json(variables)))
    return headers


def _ses(message: Message) -> Headers:
    pairs: Iterable[tuple[str, str, str]] = [
        *((f"tags[{i}]", tag, "true") for i, tag in enumerate(message.tags)),
        *((f"metadata[{key!r}]", key, value) for key, value in message.metadata.items()),
    ]
    tags = {SES_CORRELATION_TAG: _SES_NOT_TAG.sub("_", message.correlation_id)[:256]}
    for where, name, value in pairs:
        for text in (name, value):
            if not _SES_TAG.fullmatch(text):
                raise InvalidMessage(
                    where,
                    f"{text!r} cannot be an SES message tag: only ASCII letters, digits, '_' and '-' (1-256 characters)",
                )
        if name in tags:
            raise InvalidMessage(where, f"SES tag name {name!r} is used twice (tags and metadata share one namespace)")
        tags[name] = value
    return [("X-SES-MESSAGE-TAGS", ", ".join(f"{k}={v}" for k, v in _ordered(tags)))]


def _ordered(tags: Mapping[str, str]) -> list[tuple[str, str]]:
    correlation = [(k, v) for k, v in tags.items() if k == SES_CORRELATION_TAG]
    return [*(item for item in tags.items() if item[0] != SES_CORRELATION_TAG), *correlation]


def _ascii_tag(tag: str, where: str) -> str:
    if not tag.isascii():
        raise InvalidMessage(
            where, f"{tag!r}: Mailgun reads X-Mailgun-Tag as ASCII; use ASCII tags over its SMTP relay"
        )
    return tag
