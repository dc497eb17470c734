"""The contract every transport honours, as a base test class.

A plugin's tests subclass :class:`TransportContract` and provide the fixtures; pytest collects
the inherited ``test_*`` methods::

    class TestSendGridContract(TransportContract):
        @pytest.fixture
        def transport(self, sink):
            with SendGridTransport(api_key="k", endpoint_url=sink.url) as t:
                yield t

        @pytest.fixture
        def failing_transport(self):
            return SendGridTransport(api_key="k", endpoint_url="http://127.0.0.1:9")
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailcore.errors import InvalidMessage, SendError
from mailcore.message import Message
from mailcore.result import SendResult
from mailcore.transport import Transport


class TransportContract:
    """Inherited tests: results, errors, idempotent close, no secrets, no I/O on bad input."""

    #: Secrets the transport was built with; none may appear in its name or repr.
    secrets: tuple[str, ...] = ()

    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        """A transport whose peer accepts messages."""
        raise NotImplementedError("subclass TransportContract and define the transport fixture")

    @pytest.fixture
    def failing_transport(self) -> Iterator[Transport]:
        """A transport whose peer fails (unreachable, refusing, rejecting)."""
        raise NotImplementedError("subclass TransportContract and define the failing_transport fixture")

    def sample_message(self) -> Message:
        return Message("Sender <sender@example.com>", ["rcpt@example.org"], "Contract", text="hello")

    def unsupported_message(self) -> Message | None:
        """A valid message this transport cannot carry, or ``None`` when it carries everything."""
        return None

    def io_count(self, transport: Transport) -> int | None:
        """How many requests the peer has seen, or ``None`` when the test cannot tell."""
        return None

    def test_send_returns_result_naming_the_transport(self, transport: Transport) -> None:
        message = self.sample_message()
        result = transport.send(message)
        assert isinstance(result, SendResult)
        assert result.message_id == message.message_id
        assert result.transport == transport.name
        assert result.attempts and result.attempts[-1].error is None

    def test_errors_are_send_errors_naming_the_transport(self, failing_transport: Transport) -> None:
        with pytest.raises(SendError) as caught:
            failing_transport.send(self.sample_message())
        assert caught.value.transport, "a SendError must say which transport failed"

    def test_close_is_idempotent(self, transport: Transport) -> None:
        transport.send(self.sample_message())
        transport.close()
        transport.close()

    def test_context_manager_returns_itself(self, transport: Transport) -> None:
        with transport as entered:
            assert entered is transport

    def test_name_and_repr_hide_secrets(self, transport: Transport) -> None:
        shown = f"{transport.name} {transport!r} {transport!s}"
        for secret in self.secrets:
            assert secret not in shown

    def test_unsupported_input_is_rejected_before_io(self, transport: Transport) -> None:
        message = self.unsupported_message()
        if message is None:  # carries every feature: a full-featured message must go through
            full = self.sample_message().replace(cc=["cc@example.org"], html="<p>hi</p>", tags=["t"])
            assert transport.send(full).transport == transport.name
            return
        before = self.io_count(transport)
        with pytest.raises(InvalidMessage):
            transport.send(message)
        assert self.io_count(transport) == before
