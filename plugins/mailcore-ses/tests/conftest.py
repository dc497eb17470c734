"""Peers for the SES tests, all on 127.0.0.1: moto's server mode and a scripted SES v2 server.

Credentials are fake (``testing``) and every endpoint is loopback: nothing reaches AWS.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

REGION = "eu-west-1"
VERIFIED_DOMAIN = "example.com"
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SESV2",
    "AWS_CA_BUNDLE",
    "AWS_REGION",
    "MAILCORE_FROM",
)


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch, tmp_path):
    """Fake keys, no shared config files, no instance metadata: the chain never leaves the box."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# -- moto --------------------------------------------------------------------------------------


@dataclass
class Moto:
    """A moto server with ``example.com`` verified; sent messages are read back over HTTP."""

    endpoint: str

    def sent(self, message_id: str) -> dict[str, Any]:
        """The raw message moto recorded for an SES ``MessageId``."""
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=5) as answer:
            data = json.load(answer)
        for raw in data.get("ses", {}).get("RawMessage", []):
            if raw["id"] == message_id:
                return raw
        raise AssertionError(f"moto has no raw message {message_id}")

    def url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"region": REGION, "endpoint_url": self.endpoint, **params}.items())
        return f"ses://?{query}"


@pytest.fixture(scope="session")
def moto():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    admin = boto3.client(
        "sesv2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    admin.create_email_identity(EmailIdentity=VERIFIED_DOMAIN)
    admin.close()
    yield Moto(endpoint)
    server.stop()


# -- scripted SES v2 -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang_up: bool = False  # read the request, then close the connection without answering


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedSes:
    """A local HTTP server that answers like SES v2, in the order answers are scripted.

    With nothing scripted it accepts every ``SendEmail`` with ``{"MessageId": "scripted-N"}``.
    ``requests`` records every request, so tests count HTTP requests per attempt.
    """

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        self.answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with scripted._lock:
                    scripted.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                    number = len(scripted.requests)
                    answer = (
                        scripted.answers.popleft()
                        if scripted.answers
                        else Answer(body={"MessageId": f"scripted-{number}"})
                    )
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self._answer(answer, number)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (read-timeout tests)
                    self.close_connection = True

            def _answer(self, answer: Answer, number: int) -> None:
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body or {}).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-RequestId", f"req-{number}")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls_context is not None else "http"
        host = "localhost" if tls_context is not None else "127.0.0.1"
        self.endpoint = f"{scheme}://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def reply(self, **answer: Any) -> None:
        """Script one answer (see :class:`Answer` for the fields)."""
        self.answers.append(Answer(**answer))

    def error(self, status: int, code: str, message: str, *, in_body: bool = False) -> None:
        """Script an SES v2 error answer: the code in ``x-amzn-ErrorType`` or in ``__type``."""
        if in_body:
            self.script(Answer(status, {"__type": code, "message": message}))
        else:
            error_type = f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
            self.script(Answer(status, {"message": message}, {"x-amzn-ErrorType": error_type}))

    def url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"region": REGION, "endpoint_url": self.endpoint, **params}.items())
        return f"ses://?{query}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    server = ScriptedSes()
    yield server
    server.close()


@pytest.fixture
def tls_scripted(tmp_path):
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    cafile = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    server = ScriptedSes(tls_context=context)
    server.cafile = str(cafile)  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
