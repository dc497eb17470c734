"""mailcore: send email through many providers and never drop a message.

The public API lives here::

    from mailcore import Mailer, Message

    mailer = Mailer.from_url("failover(sendgrid://KEY@ smtp://user:pass@relay.example.com:587)")
    mailer.send(Message("app@example.com", ["user@example.org"], "Your code", text="123456"))

Importing mailcore is cheap: provider SDKs load only when a transport that needs them is built.
"""

from mailcore.addresses import Address
from mailcore.calendar import Calendar, calendar_part
from mailcore.capabilities import CannotCarry, Capability
from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    DeliveryFailed,
    InvalidMessage,
    MailcoreError,
    MessageExpired,
    MessageRejected,
    PermanentError,
    RateLimited,
    RecipientSuppressed,
    SendError,
    SendTimeout,
    TransientError,
    TransportRejected,
    UnknownTransport,
    WebhookRejected,
)
from mailcore.mailer import Mailer, send_mail
from mailcore.message import Attachment, Message
from mailcore.plugins import hookimpl
from mailcore.policy import BreakerPolicy, RetryPolicy, SuppressionPolicy
from mailcore.result import Attempt, Delivery, SendResult
from mailcore.templates import LocalTemplate
from mailcore.transport import ProviderTransport, Transport

__version__ = "0.1.0"

__all__ = [
    "Address",
    "Attachment",
    "Attempt",
    "BreakerPolicy",
    "Calendar",
    "CannotCarry",
    "Capability",
    "ConfigurationError",
    "ConnectionFailed",
    "Delivery",
    "DeliveryFailed",
    "InvalidMessage",
    "LocalTemplate",
    "MailcoreError",
    "Mailer",
    "Message",
    "MessageExpired",
    "MessageRejected",
    "PermanentError",
    "ProviderTransport",
    "RateLimited",
    "RecipientSuppressed",
    "RetryPolicy",
    "SendError",
    "SendResult",
    "SendTimeout",
    "SuppressionPolicy",
    "TransientError",
    "Transport",
    "TransportRejected",
    "UnknownTransport",
    "WebhookRejected",
    "__version__",
    "calendar_part",
    "hookimpl",
    "send_mail",
]
