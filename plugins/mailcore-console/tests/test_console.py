import io

import pytest

from mailcore import Mailer, Message
from mailcore.plugins import get_registry
from mailcore.testing import TransportContract
from mailcore_console.transport import BANNER, ConsoleTransport


class TestConsoleContract(TransportContract):
    @pytest.fixture
    def transport(self):
        with ConsoleTransport(io.StringIO()) as transport:
            yield transport

    @pytest.fixture
    def failing_transport(self):
        class Broken(io.StringIO):
            def write(self, s):
                raise OSError("disk full")

        from mailcore.errors import SendError

        class FailingConsole(ConsoleTransport):
            def deliver(self, message):
                try:
                    return super().deliver(message)
                except OSError as error:
                    raise SendError(str(error)) from error

        return FailingConsole(Broken())


def test_console_labels_output_as_not_delivered():
    out = io.StringIO()
    ConsoleTransport(out).send(Message("a@example.com", ["b@example.org"], "Hi", text="Your code is 123456"))
    printed = out.getvalue()
    assert BANNER in printed
    assert "envelope recipients: b@example.org" in printed
    assert "Your code is 123456" in printed


def test_console_is_registered_through_its_entry_point():
    spec = get_registry().get("console")
    assert spec.plugin == "console"


def test_console_url_selects_stderr(capsys):
    Mailer("console://?stream=stderr").send(Message("a@example.com", ["b@example.org"], "Hi", text="x"))
    captured = capsys.readouterr()
    assert BANNER in captured.err and captured.out == ""


def test_console_url_rejects_unknown_parameters():
    from mailcore.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown parameter"):
        Mailer("console://?colour=red")


def test_console_prints_tags_and_metadata_and_skips_a_provider_template():
    from mailcore.capabilities import CannotCarry

    stream = io.StringIO()
    transport = ConsoleTransport(stream)
    transport.send(Message("a@example.com", ["b@example.org"], "s", text="t", tags=["otp"], metadata={"k": "v"}))
    out = stream.getvalue()
    assert 'X-Mailcore-Tags: ["otp"]' in out and 'X-Mailcore-Metadata: {"k": "v"}' in out
    with pytest.raises(CannotCarry, match="provider template"):
        transport.send(Message("a@example.com", ["b@example.org"], "", template_id="d-1"))
