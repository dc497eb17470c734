"""The SMTP transport (``smtp://``, ``smtps://``, ``gmail://``).

One :meth:`SMTPTransport.deliver` call is one attempt, bounded by the wall clock from the first
DNS lookup to the final reply: ``min(timeout, time left before the message deadline)``; opening
a session (TCP, greeting, EHLO, STARTTLS, AUTH) has the shorter sub-bound ``connect_timeout``,
so a server that accepts and never greets is given up on quickly and the policy fails over. Sessions are pooled while the transport is
open (``with transport:``, ``with Mailer(...)``, ``send_many``); a send on a transport that is not
open uses a session of its own and closes it (QUIT) afterwards, so no socket outlives a call
nobody will close.

Reuse rules: a completed transaction leaves the session clean (RFC 5321 §4.1.1.4), an unfinished
one is ended with RSET; a session that produced a transient error is closed (QUIT), never reused
for the retry; a session idle for more than :data:`IDLE_PROBE` seconds is probed with
NOOP; a reused session that turns out dead before any message byte was sent is replaced by a
fresh one in the same attempt (nothing was handed over, so this cannot duplicate a message).
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from mailcore.addresses import Address, parse_address, split_address_list
from mailcore.budget import attempt_seconds
from mailcore.capabilities import coerce_capabilities
from mailcore.config import TransportURL, parse_url
from mailcore.errors import ConfigurationError, InvalidMessage, MessageRejected, SendError, SendTimeout, TransientError
from mailcore.message import ADDRESS_HEADERS, Message
from mailcore.render import render
from mailcore.result import Delivery, SendResult
from mailcore.transport import CheckStep, ProviderTransport
from mailcore.verp import verp_for
from mailcore_smtp import classify
from mailcore_smtp.classify import Reply, Stage, Verdict
from mailcore_smtp.net import Deadline, Resolver
from mailcore_smtp.plugin import CAPABILITIES
from mailcore_smtp.pool import SessionPool, Slot
from mailcore_smtp.relay import tag_headers
from mailcore_smtp.session import WIRE_ERRORS, Opener, TokenProvider, wire_error
from mailcore_smtp.settings import SMTPSettings
from mailcore_smtp.tls import client_context
from mailcore_smtp.wire import Disconnected, ProtocolFailure, SMTPConnection, dot_stuff_sized

__all__ = ["IDLE_PROBE", "SMTPTransport"]

#: Seconds a pooled session may sit idle before it is checked with NOOP before use.
IDLE_PROBE = 5.0
_QUEUE_ID = re.compile(r"(?:queued as|id[=:])\s*<?([\w.\-@]+)>?", re.IGNORECASE)


def _in_workers(
    send: Callable[[Message], SendResult | SendError], messages: list[Message], workers: int
) -> list[SendResult | SendError]:
    """``[send(m) for m in messages]`` in ``workers`` threads, results in input order.

    Each worker takes the next message from a shared deque (``popleft`` is atomic: no lock per
    message) and writes its result into its slot: no future per message and no wake-up of the
    calling thread per message (an executor's ``map`` has both), which on a loaded 2-core
    machine cost as much CPU as the Python side of a small message's transaction. An exception
    other than a ``SendError`` (a bug, an interrupt) stops the workers and is raised here, as
    ``executor.map`` would.
    """
    results: list[SendResult | SendError | None] = [None] * len(messages)
    pending = deque(enumerate(messages))
    failures: list[BaseException] = []

    def work() -> None:
        while not failures:
            try:
                index, message = pending.popleft()
            except IndexError:
                return
            try:
                results[index] = send(message)
            except BaseException as error:  # handed to the caller below
                failures.append(error)
                return

    threads = [threading.Thread(target=work, name=f"mailcore-smtp-{n}") for n in range(min(workers, len(messages)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as interrupt:  # e.g. Ctrl-C: no worker takes another message
        failures.append(interrupt)
        for thread in threads:
            thread.join()
        raise
    if failures:
        raise failures[0]
    return results  # type: ignore[return-value]  # every slot was filled


class _StaleSession(Exception):
    """A reused session died before any message byte was sent: reconnect and go on."""


class SMTPTransport(ProviderTransport):
    """Deliver over SMTP with verified TLS, AUTH, a session pool and wall-clock deadlines.

    :param settings: an :class:`SMTPSettings`, a parsed URL or a URL string.
    :param oauth_token_provider: a callable returning a fresh XOAUTH2 access token; asked once
        per AUTH and once more after an expired-token answer.
    :param resolver: ``resolver(host, port, family) -> [(family, sockaddr), ...]`` replacing
        ``getaddrinfo`` (tests, custom DNS).
    :param ssl_context: a verifying context to use instead of the one built from ``cafile``.
    """

    capabilities = coerce_capabilities(CAPABILITIES, "smtp")

    def __init__(
        self,
        settings: SMTPSettings | TransportURL | str,
        *,
        oauth_token_provider: TokenProvider | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        has_provider = oauth_token_provider is not None
        if isinstance(settings, str):
            settings = parse_url(settings)
        if isinstance(settings, TransportURL):
            settings = SMTPSettings.from_url(settings, has_token_provider=has_provider)
        settings.validate(has_token_provider=has_provider)
        if ssl_context is not None and (ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname):
            raise ConfigurationError("ssl_context must verify certificates and host names")
        self.settings = settings
        self.name = settings.name
        self._context = ssl_context
        self._context_lock = threading.Lock()
        self._opener = Opener(
            settings, context=self._ssl_context, resolver=resolver, token_provider=oauth_token_provider
        )
        self._pool = SessionPool(settings.pool, settings.max_messages)
        self._open_count = 0
        self._open_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: TransportURL) -> SMTPTransport:
        """Registry factory for ``smtp://``, ``smtps://`` and ``gmail://``."""
        return cls(url)

    def __repr__(self) -> str:
        return f"<SMTPTransport {self.name} tls={self.settings.tls} pool={self.settings.pool}>"

    def _ssl_context(self) -> ssl.SSLContext:
        with self._context_lock:
            if self._context is None:
                s = self.settings
                self._context = client_context(s.cafile, s.certfile, s.keyfile)
            return self._context

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Keep sessions for reuse until the matching :meth:`close` (calls nest)."""
        with self._open_lock:
            self._open_count += 1

    def close(self) -> None:
        """End one :meth:`open`; the last one QUITs every idle session. Idempotent."""
        with self._open_lock:
            self._open_count = max(0, self._open_count - 1)
            last = self._open_count == 0
        if last:
            self._pool.drain()

    @property
    def is_open(self) -> bool:
        return self._open_count > 0

    # -- sending -------------------------------------------------------------------------

    def send_many(self, messages: Iterable[Message], *, concurrency: int | None = None) -> list[SendResult | SendError]:
        """Send every message over pooled sessions, ``concurrency`` at a time (default: ``pool``).

        Results are in input order; a failed message's :class:`SendError` takes its place.
        """
        workers = max(1, concurrency or self.settings.pool)
        with self:
            if workers == 1:
                return [self._send_or_error(m) for m in messages]
            return _in_workers(self._send_or_error, list(messages), workers)

    def _send_or_error(self, message: Message) -> SendResult | SendError:
        try:
            return self.send(message)
        except SendError as error:
            return error

    @property
    def timeout(self) -> float:
        """Wall-clock seconds one attempt may take (connect to final reply)."""
        return self.settings.timeout

    @property
    def connect_timeout(self) -> float:
        """The sub-bound on opening a session (TCP, greeting, EHLO, TLS, AUTH)."""
        return min(self.settings.connect_timeout, self.settings.timeout)

    def deliver(self, message: Message) -> Delivery:
        deadline = Deadline(attempt_seconds(self.settings.timeout))
        slot = self._pool.acquire(deadline.remaining())
        if slot is None:
            raise SendTimeout(
                f"all {self.settings.pool} pooled session(s) stayed busy until the {deadline.seconds:g} s deadline"
            )
        keep = False
        try:
            delivery = self._deliver_in(slot, message, deadline)
            keep = self.is_open
            return delivery
        except SendError as error:
            # a session that produced a transient error is never reused: the retry gets a fresh one
            keep = (
                self.is_open
                and not isinstance(error, TransientError)
                and slot.connection is not None
                and not slot.connection.closed
            )
            raise
        except BaseException:  # a bug or an interrupt mid-session: never QUIT into an open DATA
            if slot.connection is not None:
                slot.connection.close()
            raise
        finally:
            self._pool.release(slot, keep=keep)

    def _deliver_in(self, slot: Slot, message: Message, deadline: Deadline) -> Delivery:
        connection = self._reusable(slot.connection, deadline)
        if connection is None:
            slot.connection = connection = self._opener.open(deadline)
            return self._transact(connection, message, reused=False)
        slot.connection = connection
        try:
            return self._transact(connection, message, reused=True)
        except _StaleSession:
            connection.close()
            slot.connection = connection = self._opener.open(deadline)
            return self._transact(connection, message, reused=False)

    @staticmethod
    def _reusable(connection: SMTPConnection | None, deadline: Deadline) -> SMTPConnection | None:
        if connection is None or connection.closed:
            return None
        connection.deadline = deadline
        if time.monotonic() - connection.last_used > IDLE_PROBE and not connection.noop():
            connection.close()
            return None
        return connection

    def _transact(self, connection: SMTPConnection, message: Message, *, reused: bool) -> Delivery:
        """Run the mail transaction(s); map wire failures to core errors by stage."""
        try:
            return self._transactions(connection, message, reused=reused)
        except WIRE_ERRORS as error:
            stage = connection.stage
            connection.close()
            before_data = stage in (Stage.MAIL, Stage.RCPT, Stage.DATA)
            if (
                reused
                and connection.delivered_in_attempt == 0
                and before_data
                and isinstance(error, Disconnected | ProtocolFailure)
            ):
                raise _StaleSession from None
            raise wire_error(stage, error, self.settings.host) from None
        finally:
            connection.last_used = time.monotonic()

    # -- the transaction -----------------------------------------------------------------

    def _envelope(self, connection: SMTPConnection, message: Message) -> tuple[bool, str, list[str], tuple[bytes, int]]:
        """(smtputf8, sender, recipients, (dot-stuffed data, its RFC 1870 size)) for this server; no I/O."""
        utf8 = connection.has("SMTPUTF8") and _needs_smtputf8(message)
        extra = tag_headers(message, self.settings.relay)  # InvalidMessage: the tags cannot go
        try:
            if message.envelope_from is None and self.settings.verp:
                sender = verp_for(self.settings.verp, message)  # ASCII: bounces+<token>@domain
            elif utf8:
                sender = message.envelope_sender.envelope_email  # UTF-8 local part, A-label domain
            else:
                sender = message.envelope_sender.ascii_email
            if utf8:
                recipients = [r.envelope_email for r in message.recipients]
            else:
                recipients = [r.ascii_email for r in message.recipients]
            data = render(message, smtputf8=utf8, extra_headers=extra)
        except InvalidMessage as error:
            raise MessageRejected(
                f"{error.field}: {error.problem}; {self.settings.host} does not offer SMTPUTF8"
            ) from None
        limit = connection.size_limit
        if limit is not None and len(data) > limit:
            raise MessageRejected(f"the message is {len(data)} bytes; {self.settings.host} accepts at most {limit}")
        return utf8, sender, recipients, dot_stuff_sized(data)

    def _options(self, connection: SMTPConnection, utf8: bool, stuffed: bytes, size: int) -> str:
        """MAIL FROM parameters: SIZE (RFC 1870), SMTPUTF8, and BODY=8BITMIME for 8-bit data."""
        options = f" SIZE={size}" if connection.has("SIZE") else ""
        if utf8:
            options += " SMTPUTF8"
        if connection.has("8BITMIME") and (utf8 or not stuffed.isascii()):
            options += " BODY=8BITMIME"
        return options

    def _transactions(self, connection: SMTPConnection, message: Message, *, reused: bool) -> Delivery:
        connection.delivered_in_attempt = 0
        utf8, sender, pending, (stuffed, size) = self._envelope(connection, message)
        options = self._options(connection, utf8, stuffed, size)
        rejected: dict[str, str] = {}
        final: Reply | None = None
        while pending:
            try:
                final, pending = self._one_transaction(connection, sender, options, pending, rejected, stuffed, reused)
            except (SendError, *WIRE_ERRORS) as error:
                if final is None:
                    raise
                # part of the message is delivered: retrying would duplicate it, so report the rest
                # (a wire failure here is classified by stage, e.g. "may have been delivered")
                if isinstance(error, WIRE_ERRORS):
                    stage = connection.stage
                    connection.close()
                    error = wire_error(stage, error, self.settings.host)
                unknown = isinstance(error, SendTimeout) and error.maybe_sent
                reason = f"{'outcome unknown' if unknown else 'not sent'}: {error}"
                for recipient in pending:
                    rejected.setdefault(recipient, reason)  # a recipient's own refusal stays
                break
            connection.delivered_in_attempt += 1
        assert final is not None
        match = _QUEUE_ID.search(final.text)
        return Delivery(provider_message_id=match.group(1) if match else None, rejected=rejected, response=str(final))

    def _one_transaction(
        self,
        connection: SMTPConnection,
        sender: str,
        options: str,
        recipients: list[str],
        rejected: dict[str, str],
        stuffed: bytes,
        reused: bool,
    ) -> tuple[Reply, list[str]]:
        """One MAIL/RCPT/DATA; returns the final reply and recipients deferred to a next one."""
        mail, answers, data = connection.transaction_replies(sender, options, recipients)
        if not mail.ok:
            self._abandon(connection, data)
            if reused and mail.code == 421 and connection.delivered_in_attempt == 0:
                raise _StaleSession  # the server timed out our idle session
            raise classify.reply_error(Stage.MAIL, mail)
        accepted, deferred, refused_now = [], [], {}
        for rcpt, answer in zip(recipients, answers, strict=True):
            verdict = classify.recipient_verdict(answer)
            if verdict is Verdict.ACCEPTED:
                accepted.append(rcpt)
            elif verdict is Verdict.DEFERRED:
                deferred.append(rcpt)
            elif verdict is Verdict.REFUSED:
                refused_now[rcpt] = str(answer)
            else:  # temporary or about this transport: nothing is sent, the whole message fails
                self._abandon(connection, data)
                raise classify.reply_error(Stage.RCPT, answer)
        rejected.update(refused_now)
        if not accepted:
            self._abandon(connection, data)
            if deferred:
                raise TransientError(f"{Stage.RCPT.value}: the server deferred every recipient (too many recipients)")
            raise classify.all_refused(rejected)
        if data is None or data.code != 354:
            self._abandon(connection, data)
            raise classify.reply_error(Stage.DATA, data or Reply(0, "DATA not sent"))
        final = connection.send_body(stuffed)
        if not final.ok:
            raise classify.reply_error(Stage.END, final)
        return final, deferred

    @staticmethod
    def _abandon(connection: SMTPConnection, data: Reply | None) -> None:
        """End an unfinished transaction: RSET, or drop the session if DATA was already accepted."""
        if data is not None and data.code == 354:
            connection.close()  # the only way to abort after 354 without delivering
        elif not connection.reset():
            connection.close()

    # -- diagnostics ---------------------------------------------------------------------

    def check(self) -> Iterator[CheckStep]:
        """DNS, TCP per address, greeting, EHLO, TLS and certificate, AUTH; never sends mail."""
        from mailcore_smtp.check import run_check

        yield from run_check(self.settings, self._opener)


def _needs_smtputf8(message: Message) -> bool:
    """Only a UTF-8 local part needs SMTPUTF8: an IDN domain travels as its A-label."""
    addresses = (message.from_email, message.envelope_sender, *message.recipients)
    return any(a.needs_smtputf8 for a in addresses) or any(
        a.needs_smtputf8 for value in _address_header_values(message) for a in value
    )


def _address_header_values(message: Message) -> list[list[Address]]:
    """Addresses in custom address headers (Sender, Resent-*), which render as addresses too."""
    return [
        [parse_address(item, name) for item in split_address_list(value)]
        for name, value in message.headers.items()
        if name.lower() in ADDRESS_HEADERS
    ]
