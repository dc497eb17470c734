"""Local peers that echo what they were sent, the worst case for secret masking.

* :func:`echo_sink`: an HTTP sink (``mailcore.testing.http_sink``) answering 401 with every
  request header (``Authorization: Bearer KEY``, ``Basic base64("api:KEY")``, AWS SigV4's
  ``Credential=KEYID/...``) and the body copied into the reply, plus an ESC/OSC sequence.
* :class:`EchoSMTP`: an SMTP server on 127.0.0.1 that offers AUTH PLAIN/LOGIN (no STARTTLS) and
  answers each AUTH line with a 535 quoting it, again with terminal escape sequences.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from mailcore.testing.http_sink import HTTPSink, RecordedRequest, Reply

#: Terminal control sequences a hostile server puts in its replies (finding 9).
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\nERROR forged log line"


def echo_reply(request: RecordedRequest) -> Reply:
    """401 quoting every header (and the body) where each provider's error text comes from."""
    quoted = f"{dict(request.headers)} {request.body.decode('utf-8', errors='replace')[:2000]}"
    echoed = {
        "message": f"unauthorized {HOSTILE} {quoted}",
        "errors": [{"message": f"bad credentials {HOSTILE} {quoted}", "field": "authorization"}],
    }
    return Reply(status=401, body=echoed)


def echo_sink() -> HTTPSink:
    return HTTPSink(default=echo_reply, record=False)


class EchoSMTP:
    """A one-thread-per-connection SMTP server that rejects AUTH, quoting what it received."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(sock,), daemon=True).start()

    def _session(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the client hung up (smtps:// speaks TLS first, for one)
            self._converse(sock)

    def _converse(self, sock: socket.socket) -> None:
        with sock, sock.makefile("rb") as reader:
            sock.sendall(f"220 echo.test ESMTP {HOSTILE}".replace("\r\n", " ").encode() + b"\r\n")
            for raw in reader:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    reply = "250-echo.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"
                elif verb == "QUIT":
                    sock.sendall(b"221 bye\r\n")
                    return
                elif verb in ("RSET", "NOOP"):
                    reply = "250 ok"
                else:  # AUTH and anything after it: refused, quoting the line (and its base64)
                    reply = f"535 5.7.8 rejected {line} {HOSTILE}".replace("\r\n", " ")
                sock.sendall(f"{reply}\r\n".encode())
