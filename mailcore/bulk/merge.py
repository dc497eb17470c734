"""Merge fields: ``{name}`` placeholders in a subject or body, filled per recipient.

Deliberately smaller than :meth:`str.format`: a placeholder is ``{identifier}`` only (letters,
digits, ``_``, ``-`` and ``.``), with no attribute access, indexing or format specs, so a
template can never reach into Python objects. Any other brace is literal text, which keeps CSS
(``p { color: red }``) and JSON in an HTML body working; ``{{`` and ``}}`` write a literal brace
where a placeholder would otherwise be read.

A :class:`MergeTemplate` is parsed once and rendered many times. Providers with server-side
substitution (SendGrid, Mailgun) use :meth:`MergeTemplate.translate` to rewrite the placeholders
into their own syntax, so the body is sent once per batch instead of once per recipient.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mailcore.errors import InvalidMessage

__all__ = ["MergeError", "MergeTemplate", "field_text"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


class MergeError(InvalidMessage):
    """A recipient lacks a value for a merge field the template uses.

    ``recipient`` is the recipient's address, ``merge_field`` the missing field, ``where`` the
    template part (``subject``, ``text``, ``html``) that uses it.
    """

    def __init__(self, recipient: str, merge_field: str, where: str) -> None:
        self.recipient = recipient
        self.merge_field = merge_field
        self.where = where
        super().__init__(f"recipient {recipient}", f"no value for merge field {{{merge_field}}} used in the {where}")


def field_text(value: Any) -> str:
    """The text a merge value contributes: ``None`` is empty, everything else ``str()``."""
    return "" if value is None else value if isinstance(value, str) else str(value)


@dataclass(frozen=True, slots=True)
class MergeTemplate:
    """A parsed template: literal chunks and field names, alternating.

    ``parts[0]`` is literal, ``parts[1]`` a field name, ``parts[2]`` literal, and so on; a
    template without placeholders is a single literal.
    """

    source: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, source: str) -> MergeTemplate:
        parts: list[str] = []
        literal: list[str] = []
        position = 0
        for match in _TOKEN.finditer(source):
            literal.append(source[position : match.start()])
            token = match.group(0)
            if match.group(1) is None:
                literal.append(token[0])  # "{{" -> "{", "}}" -> "}"
            else:
                parts.extend(("".join(literal), match.group(1)))
                literal = []
            position = match.end()
        literal.append(source[position:])
        parts.append("".join(literal))
        return cls(source, tuple(parts))

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names used, in order of first use."""
        return tuple(dict.fromkeys(self.parts[1::2]))

    @property
    def is_static(self) -> bool:
        return len(self.parts) == 1

    def render(
        self,
        values: Mapping[str, Any],
        *,
        recipient: str = "?",
        where: str = "template",
        escape: bool = False,
    ) -> str:
        """Fill the placeholders from ``values``; HTML-escape each value when ``escape``.

        A missing field raises :class:`MergeError` naming the recipient and the field.
        """
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            name = parts[i]
            try:
                value = values[name]
            except KeyError:
                raise MergeError(recipient, name, where) from None
            text = field_text(value)
            out.append(html.escape(text) if escape else text)
            out.append(parts[i + 1])
        return "".join(out)

    def translate(self, placeholder: Callable[[str], str]) -> str:
        """The template with each field written as ``placeholder(name)`` (provider syntax)."""
        out = [self.parts[0]]
        for i in range(1, len(self.parts), 2):
            out.append(placeholder(self.parts[i]))
            out.append(self.parts[i + 1])
        return "".join(out)
