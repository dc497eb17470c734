"""A local SMTP sink in its own process for the crash tests: ``python smtp_sink.py PORTFILE LOGFILE [DELAY]``.

aiosmtpd accepts every message; before answering ``250`` to DATA it appends one line
``<time> <Message-ID>`` to LOGFILE (O_APPEND), so a worker SIGKILLed after the hand-over cannot
take the evidence with it. ``DELAY`` seconds (default 0) are spent before that reply, so that a
kill lands while messages are in flight.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller


class Record:
    def __init__(self, log_fd: int, delay: float) -> None:
        self.log_fd, self.delay = log_fd, delay

    async def handle_DATA(self, server, session, envelope):
        headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        message_id = (headers.get("Message-ID") or "?").strip()
        if self.delay:
            await asyncio.sleep(self.delay)
        os.write(self.log_fd, f"{time.time():.6f} {message_id}\n".encode())
        return "250 OK"


def main(port_file: str, log_file: str, delay: float) -> None:
    log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Record(log_fd, delay), hostname="127.0.0.1", port=port)
    controller.start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(str(port))
    os.replace(tmp, port_file)
    threading.Event().wait()  # until terminated


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
