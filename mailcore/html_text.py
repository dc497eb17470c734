"""The text part of an HTML-only message, written from the HTML with the standard library.

Spam filters and screen readers both expect a ``text/plain`` alternative. When a message has
HTML and no text (and ``auto_text`` is left on), the transport sends :func:`html_to_text` of it.

Why our own converter: ``html2text`` is GPL-3.0 (mailcore is MIT) and ``inscriptis``
(Apache-2.0) pulls in lxml; what an email needs is small — readable paragraphs, list bullets,
link targets, image alt text, no script or style — and :class:`html.parser.HTMLParser` never
raises on broken markup. docs/capabilities.md has the comparison we measured.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "main", "nav", "p",
        "section", "table", "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "dl"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"})
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
_MANY_BREAKS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable plain text for ``html``: paragraphs and headings separated by a blank line,
    list items as ``- `` (``1. `` in ordered lists), links as ``text (url)``, images as their alt
    text, table cells separated by two spaces, ``<pre>`` kept as written."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.result()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int] | None] = []  # None: <ul>; [n]: <ol> at item n
        self.links: list[str | None] = []
        self.link_text: list[int] = []

    # -- structure -------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        values = dict(attrs)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self._break(1)
            self.out.append("-" * 20)
            self._break(1)
        elif tag == "pre":
            self._break(2)
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([0] if tag == "ol" else None)
        elif tag == "li":
            self._list_item()
        elif tag in ("td", "th"):
            if self.out and not self.out[-1].endswith("\n"):
                self.out.append("  ")
        elif tag == "img":
            alt = (values.get("alt") or "").strip()
            if alt:
                self._text(alt)
        elif tag == "a":
            self.links.append(values.get("href"))
            self.link_text.append(len(self.out))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "a" and self.links:
            self._end_link()
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self._break(2 if not self.lists else 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._break(2)
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK or tag == "li":
            self._break(1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data.replace("\r\n", "\n"))
            return
        self._text(data)

    # -- helpers ---------------------------------------------------------------------------

    def _text(self, data: str) -> None:
        text = _SPACES.sub(" ", data)
        if not text:
            return
        at_line_start = not self.out or self.out[-1].endswith("\n") or self.out[-1].endswith(" ")
        if at_line_start:
            text = text.lstrip(" ")
        if text:
            self.out.append(text)

    def _break(self, lines: int) -> None:
        """End the current line and make sure ``lines`` line breaks precede the next text."""
        if not self.out:
            return
        tail = "".join(self.out[-3:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < lines:
            self.out.append("\n" * (lines - have))

    def _list_item(self) -> None:
        self._break(1)
        depth = max(0, len(self.lists) - 1)
        current = self.lists[-1] if self.lists else None
        if current is not None:
            current[0] += 1
            self.out.append("  " * depth + f"{current[0]}. ")
        else:
            self.out.append("  " * depth + "- ")

    def _end_link(self) -> None:
        href = self.links.pop()
        start = self.link_text.pop()
        label = "".join(self.out[start:]).strip()
        if not href or href.startswith(("#", "javascript:")):
            return
        target = href[len("mailto:") :] if href.startswith("mailto:") else href
        if target != label and href != label:
            self.out.append(f" ({target})" if label else target)

    def result(self) -> str:
        text = "".join(self.out)
        lines = [line.rstrip() for line in text.split("\n")]
        return _MANY_BREAKS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
