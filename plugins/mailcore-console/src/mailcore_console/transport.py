"""The console transport: writes the rendered message to stdout or stderr.

It is a development tool the user chooses explicitly. Every message it prints is framed by a
banner saying it was NOT delivered, so nobody mistakes a console log for a sent email (or reads
a one-time password out of production logs believing it went out).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from mailcore.config import TransportURL
from mailcore.message import Message
from mailcore.render import render
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport

BANNER = "mailcore console transport: NOT DELIVERED (development only)"


class ConsoleTransport(ProviderTransport):
    """Print each message, clearly labelled as not delivered."""

    def __init__(self, stream: TextIO | None = None, *, stream_name: str = "stdout") -> None:
        self._stream = stream
        self._stream_name = stream_name
        self.name = f"console://?stream={stream_name}" if stream_name != "stdout" else "console://"
        self._lock = threading.Lock()
        self._count = 0

    @classmethod
    def from_url(cls, url: TransportURL) -> ConsoleTransport:
        url.check_no_host("use console:// or console://?stream=stderr")
        url.check_params({"stream", "timeout"})
        return cls(stream_name=url.get_choice("stream", ("stdout", "stderr"), "stdout"))

    @property
    def stream(self) -> TextIO:
        if self._stream is not None:
            return self._stream
        return sys.stderr if self._stream_name == "stderr" else sys.stdout

    def deliver(self, message: Message) -> Delivery:
        rendered = render(message, smtputf8=True).decode("utf-8", errors="replace").replace("\r\n", "\n")
        envelope = ", ".join(r.email for r in message.recipients)
        with self._lock:
            self._count += 1
            number = self._count
            self.stream.write(
                f"{'=' * 72}\n{BANNER}\nenvelope recipients: {envelope}\n{'-' * 72}\n{rendered}\n{'=' * 72}\n"
            )
            self.stream.flush()
        return Delivery(provider_message_id=f"console-{number}")
