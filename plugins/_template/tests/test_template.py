import pytest

from mailcore import Attachment, Message
from mailcore.errors import MessageRejected, RateLimited, TransientError, TransportRejected
from mailcore.testing import TransportContract
from mailcore_template.errors import classify
from mailcore_template.transport import TemplateTransport


class TestTemplateContract(TransportContract):
    secrets = ("tpl-secret-key",)

    @pytest.fixture
    def transport(self):
        with TemplateTransport("tpl-secret-key") as transport:
            yield transport

    @pytest.fixture
    def failing_transport(self):
        class Failing(TemplateTransport):
            def _post(self, payload, seconds):
                self.requests.append(payload)
                return 503, "unavailable", None

        return Failing("tpl-secret-key")

    def unsupported_message(self):
        return Message("a@example.com", ["b@example.org"], "s", text="t", attachments=[Attachment("a.txt", b"x")])

    def io_count(self, transport):
        return len(transport.requests)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(202, None), (401, TransportRejected), (400, MessageRejected), (429, RateLimited), (503, TransientError)],
)
def test_classification(status, expected):
    error = classify(status, "x")
    assert (error is None and expected is None) or type(error) is expected
