"""A throwaway test plugin and its out-of-process HTTP sink.

* ``python mailcore_testsink.py PORTFILE LOGFILE [--delay S]`` runs the sink: it appends one line
  ``<time> <Message-ID>`` per accepted message to LOGFILE (O_APPEND, before answering), so a
  SIGKILLed worker never loses the sink's record. ``metadata["sink"]`` scripts it:
  ``fail:N`` answers 503 to the first N tries of that message, ``reject`` answers 422,
  ``hang`` records the message, then answers only after 3 s (a timeout after hand-over);
  ``slow:S`` records the message, then answers 200 after S seconds (a slow provider).
* ``httpsink://127.0.0.1:PORT?timeout=S`` is the transport (registered through the
  ``mailcore`` entry point of a dist-info written by the tests, so subprocess workers find it).
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mailcore.capabilities import Capability
from mailcore.errors import ConnectionFailed, MessageRejected, SendTimeout, TransientError
from mailcore.plugins import hookimpl
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport

# -- the transport (runs in the worker) -----------------------------------------------------------


class SinkTransport(ProviderTransport):
    capabilities = frozenset(Capability)  # it records the message id only

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.name = f"httpsink://{host}:{port}"
        self._local = threading.local()

    @classmethod
    def from_url(cls, url):
        url.check_params({"timeout"})
        return cls(url.host or "127.0.0.1", url.port or 80, url.get_float("timeout", 2.0) or 2.0)

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def deliver(self, message):
        conn = self._connection()
        headers = {"X-Message-Id": message.message_id, "X-Sink": message.metadata.get("sink", "")}
        try:
            conn.request("POST", "/deliver", body=b"", headers=headers)
        except OSError as error:
            self._drop()
            raise ConnectionFailed(f"sink unreachable: {error}") from None
        try:
            response = conn.getresponse()
            response.read()
        except TimeoutError:
            self._drop()
            raise SendTimeout("sink did not answer after the hand-over", maybe_sent=True) from None
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            raise SendTimeout(f"sink connection lost after the hand-over: {error}", maybe_sent=True) from None
        if response.status == 200:
            return Delivery(provider_message_id=response.getheader("X-Sink-Id"))
        if response.status == 422:
            raise MessageRejected("sink rejected the message")
        raise TransientError(f"sink answered {response.status}")

    def close(self):
        self._drop()


@hookimpl
def mailcore_register_transports(registry):
    registry.add("httpsink", "mailcore_testsink:SinkTransport.from_url", description="test sink")


# -- the sink (its own process) -------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        message_id = self.headers.get("X-Message-Id", "?")
        script = self.headers.get("X-Sink", "")
        with server.lock:
            server.tries[message_id] += 1
            tries = server.tries[message_id]
        if server.delay:
            time.sleep(server.delay)
        if script.startswith("fail:") and tries <= int(script[5:]):
            return self._answer(503)
        if script == "reject":
            return self._answer(422)
        os.write(server.log_fd, f"{time.time():.6f} {message_id}\n".encode())
        if script == "hang":
            time.sleep(3.0)
        elif script.startswith("slow:"):
            time.sleep(float(script[5:]))
        self._answer(200, str(tries))

    def _answer(self, status, sink_id=""):
        self.send_response(status)
        if sink_id:
            self.send_header("X-Sink-Id", sink_id)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a killed worker resets its connection: expected here


def serve(port_file: str, log_file: str, delay: float = 0.0) -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.lock = threading.Lock()
    server.tries = Counter()
    server.delay = delay
    server.log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
