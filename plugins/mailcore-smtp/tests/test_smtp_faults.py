"""Scripted fault server on 127.0.0.1: each failure the issue lists, and how it is classified."""

import base64
import socket
import time

import pytest
from smtp_peers import Drop

from mailcore import Attachment, Mailer, Message
from mailcore.errors import (
    ConnectionFailed,
    DeliveryFailed,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore_smtp.transport import SMTPTransport


def msg(*to, **fields):
    return Message("sender@example.com", list(to or ["rcpt@example.org"]), "subject", text="body", **fields)


def test_no_greeting_times_out_at_the_deadline(fake):
    server = fake(greeting=None)
    started = time.monotonic()
    with pytest.raises(SendTimeout) as caught:
        SMTPTransport(server.url(timeout="1")).send(msg())
    assert not caught.value.maybe_sent
    assert "greeting" in str(caught.value)
    assert time.monotonic() - started < 1.5


def test_slow_drip_is_cut_at_the_deadline(fake):
    """One byte every 0.4 s never trips a per-read timeout; the wall-clock deadline ends it."""
    server = fake(drip=0.4)
    deadline = 2.0
    started = time.monotonic()
    with pytest.raises(SendTimeout) as caught:
        SMTPTransport(server.url(timeout=str(deadline), read_timeout="1")).send(msg())
    elapsed = time.monotonic() - started
    assert "deadline" in str(caught.value)
    assert deadline * 0.8 <= elapsed < deadline * 1.5, elapsed


def test_421_on_connect_is_transient(fake):
    server = fake({"GREETING": "421 4.3.2 Service not available, closing channel"})
    with pytest.raises(ConnectionFailed, match="421"):
        SMTPTransport(server.url()).send(msg())
    assert "MAIL" not in server.verbs()


def test_gmail_421_rate_answer_is_rate_limited(fake):
    server = fake({"GREETING": "421 4.7.0 Try again later, closing connection. (EHLO) gsmtp"})
    with pytest.raises(RateLimited):
        SMTPTransport(server.url()).send(msg())


def test_554_greeting_rejects_the_transport(fake):
    server = fake({"GREETING": "554 5.7.1 no SMTP service for you"})
    with pytest.raises(TransportRejected):
        SMTPTransport(server.url()).send(msg())


def test_451_on_rcpt_then_success_with_retry(fake):
    server = fake({"RCPT": ["451 4.3.0 Temporary System Problem"]})
    transport = SMTPTransport(server.url())
    with pytest.raises(TransientError, match="451"):
        transport.send(msg())
    assert server.messages == []  # nothing delivered by the failed attempt
    assert transport.send(msg()).provider_message_id == "FAKE1"
    assert len(server.messages) == 1


def test_451_on_rcpt_without_pipelining_resets(fake):
    server = fake({"RCPT": ["451 4.3.0 later"]}, extensions=("8BITMIME",))
    with SMTPTransport(server.url()) as transport:
        with pytest.raises(TransientError):
            transport.send(msg())
        transport.send(msg())
    # the session that answered 451 is closed politely; the retry gets a fresh one (issue 12)
    assert "RSET" in server.verbs() and "QUIT" in server.verbs()
    assert server.connections == 2 and len(server.messages) == 1


def test_451_after_data_is_transient_not_maybe_sent(fake):
    server = fake({"END": "451 4.3.0 Local error in processing"})
    with pytest.raises(TransientError) as caught:
        SMTPTransport(server.url()).send(msg())
    assert not isinstance(caught.value, SendTimeout)


def test_550_on_rcpt_rejects_the_message(fake):
    server = fake({"RCPT": "550 5.1.1 The email account that you tried to reach does not exist"})
    with pytest.raises(MessageRejected) as caught:
        SMTPTransport(server.url()).send(msg("nobody@example.org"))
    assert caught.value.recipients == {
        "nobody@example.org": "550 5.1.1 The email account that you tried to reach does not exist"
    }
    assert server.messages == [] and "RSET" in server.verbs()


def test_partial_refusal_delivers_to_the_others(fake):
    def rcpt(argument, server):
        return "550 5.1.1 no such user" if "bad" in argument else None

    server = fake({"RCPT": rcpt})
    result = SMTPTransport(server.url()).send(msg("good@example.org", "bad@example.org", "also-good@example.org"))
    assert result.rejected == {"bad@example.org": "550 5.1.1 no such user"}
    assert len(server.messages) == 1


def test_too_many_recipients_continue_in_more_transactions(fake):
    def rcpt(argument, server):
        server.rcpts_in_txn = getattr(server, "rcpts_in_txn", 0) + 1
        return "452 4.5.3 Too many recipients" if server.rcpts_in_txn > 2 else None

    def mail(argument, server):
        server.rcpts_in_txn = 0

    server = fake({"RCPT": rcpt, "MAIL": mail})
    recipients = [f"r{i}@example.org" for i in range(5)]
    result = SMTPTransport(server.url()).send(msg(*recipients))
    assert result.rejected == {}
    assert len(server.messages) == 3  # 2 + 2 + 1
    assert server.verbs().count("MAIL") == 3


def test_535_is_transport_rejected_without_the_password(fake):
    server = fake({"AUTH": "535 5.7.8 Username and Password not accepted. BadCredentials"})
    with pytest.raises(TransportRejected) as caught:
        SMTPTransport(f"smtp://user:pa55-secret-word@127.0.0.1:{server.port}?tls=none").send(msg())
    assert "535" in str(caught.value) and "pa55-secret-word" not in str(caught.value)
    assert "MAIL" not in server.verbs()


def test_auth_echo_of_credentials_is_masked(fake):
    def auth(argument, server):
        return f"535 5.7.8 bad: {argument}"  # a server that echoes what we sent

    server = fake({"AUTH": auth})
    with pytest.raises(TransportRejected) as caught:
        SMTPTransport(f"smtp://user:pa55-secret-word@127.0.0.1:{server.port}?tls=none").send(msg())
    encoded = base64.b64encode(b"\0user\0pa55-secret-word").decode()
    assert encoded not in str(caught.value) and "pa55-secret-word" not in str(caught.value)


def test_starttls_not_offered_sends_nothing_and_tries_no_auth(fake):
    server = fake(extensions=("PIPELINING", "AUTH PLAIN LOGIN"))
    url = f"smtp://user:pw-secret@127.0.0.1:{server.port}?tls=starttls"
    with pytest.raises(TransportRejected, match="downgrade"):
        SMTPTransport(url).send(msg())
    assert server.verbs() == ["EHLO", "QUIT"]  # ended politely (issue 12), no AUTH, no MAIL


def test_drop_in_the_middle_of_data_is_transient(fake):
    server = fake(drop_data_after=20_000)
    big = Message(
        "sender@example.com", ["r@example.org"], "big", text="x",
        attachments=[Attachment("big.bin", bytes(5_000_000), "application/octet-stream")],
    )  # fmt: skip
    with pytest.raises(TransientError) as caught:
        SMTPTransport(server.url(timeout="10")).send(big)
    assert not isinstance(caught.value, SendTimeout), caught.value
    assert "before the message was accepted" in str(caught.value)


def test_disconnect_after_final_dot_is_maybe_sent(fake):
    def end(argument, server):
        raise Drop

    server = fake({"END": end})
    with pytest.raises(SendTimeout) as caught:
        SMTPTransport(server.url()).send(msg())
    assert caught.value.maybe_sent


def test_250_after_our_deadline_is_maybe_sent(fake):
    def late(argument, server):
        time.sleep(2.0)
        return "250 2.0.0 Ok: queued as LATE"

    server = fake({"END": late})
    started = time.monotonic()
    with pytest.raises(SendTimeout) as caught:
        SMTPTransport(server.url(timeout="1")).send(msg())
    assert caught.value.maybe_sent
    assert time.monotonic() - started < 1.5


def test_maybe_sent_is_not_failed_over_by_the_mailer(fake):
    def end(argument, server):
        raise Drop

    first = fake({"END": end})
    second = fake()
    mailer = Mailer([first.url(), second.url()])
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(msg())
    assert caught.value.outcome == "unknown"
    assert second.messages == []


def test_552_and_554_after_data_reject_the_message(fake):
    big = fake({"END": "552 5.3.4 Message size exceeds fixed limit"})
    with pytest.raises(MessageRejected, match="too big"):
        SMTPTransport(big.url()).send(msg())
    spam = fake({"END": "554 5.7.1 Message rejected: spam"})
    with pytest.raises(MessageRejected, match="content"):
        SMTPTransport(spam.url()).send(msg())


def test_size_limit_is_checked_before_sending(fake):
    server = fake(extensions=("PIPELINING", "SIZE 1000"))
    with pytest.raises(MessageRejected, match="at most 1000"):
        SMTPTransport(server.url()).send(msg(attachments=[Attachment("a.bin", bytes(5000))]))
    assert "MAIL" not in server.verbs()


def test_stale_pooled_session_is_replaced(fake):
    def end(argument, server):
        return "250 2.0.0 Ok: queued as X"

    server = fake({"END": end})
    with SMTPTransport(server.url()) as transport:
        transport.send(msg())
        # the server drops the idle session (as real servers do after their idle timeout)
        for client in server.clients:
            client.shutdown(socket.SHUT_RDWR)
        time.sleep(0.1)
        transport.send(msg())
    assert server.connections == 2 and len(server.messages) == 2


def test_421_on_reused_session_reconnects(fake):
    answers = [None, "421 4.4.2 Timeout exceeded, closing"]

    def mail(argument, server):
        return answers.pop(0) if answers else None

    server = fake({"MAIL": mail})
    with SMTPTransport(server.url()) as transport:
        transport.send(msg())
        transport.send(msg())
    assert server.connections == 2 and len(server.messages) == 2


def test_mid_session_421_is_transient(fake):
    server = fake({"MAIL": "421 4.3.0 Temporary System Problem. Try again later"})
    with pytest.raises(TransientError, match="421"):
        SMTPTransport(server.url()).send(msg())


def test_drop_in_a_later_transaction_reports_the_rest_without_retrying_the_first(fake):
    """After a 452 4.5.3 split, the first transaction is delivered: a drop in the next one must
    not turn into a TransientError (a retry would send the first recipients a second copy)."""
    state = {"mails": 0, "rcpts": 0}

    def mail(argument, server):
        state["mails"] += 1
        state["rcpts"] = 0
        if state["mails"] == 2:
            raise Drop

    def rcpt(argument, server):
        state["rcpts"] += 1
        return "452 4.5.3 Too many recipients" if state["rcpts"] > 2 else None

    server = fake({"MAIL": mail, "RCPT": rcpt})
    recipients = [f"r{i}@example.org" for i in range(4)]
    result = SMTPTransport(server.url()).send(msg(*recipients))
    assert len(server.messages) == 1
    assert set(result.rejected) == {"r2@example.org", "r3@example.org"}
    assert all("not sent" in why for why in result.rejected.values())


def test_refusals_in_a_later_transaction_keep_their_own_answer(fake):
    state = {"mails": 0, "rcpts": 0}

    def mail(argument, server):
        state["mails"] += 1
        state["rcpts"] = 0

    def rcpt(argument, server):
        state["rcpts"] += 1
        if state["mails"] == 1 and state["rcpts"] > 1:
            return "452 4.5.3 Too many recipients"
        return "550 5.1.1 no such user" if "bad" in argument else None

    server = fake({"MAIL": mail, "RCPT": rcpt})
    result = SMTPTransport(server.url()).send(msg("good@example.org", "bad@example.org"))
    assert len(server.messages) == 1
    assert result.rejected == {"bad@example.org": "550 5.1.1 no such user"}


def test_auth_plain_echo_is_masked_whatever_the_user_name_length(fake):
    """base64 of the password alone is a substring of the PLAIN blob only when the user name's
    length happens to align; the blob itself must be masked too."""

    def auth(argument, server):
        return f"535 5.7.8 bad: {argument}"

    server = fake({"AUTH": auth})
    with pytest.raises(TransportRejected) as caught:
        SMTPTransport(f"smtp://alice:pa55-secret-word@127.0.0.1:{server.port}?tls=none").send(msg())
    encoded = base64.b64encode(b"\0alice\0pa55-secret-word").decode()
    text = str(caught.value)
    assert encoded[:12] not in text and "pa55-secret-word" not in text


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("8BITMIME",)], ids=["pipelining", "one-by-one"])
def test_gmail_421_on_rcpt_keeps_its_meaning_although_the_server_hangs_up(fake, extensions):
    """The server closes right after 421: the replies still owed never come, and the 421 (here
    Gmail's rate answer) must be classified, not reported as a lost connection."""
    server = fake({"RCPT": "421 4.7.0 Try again later, closing connection. gsmtp"}, extensions=extensions)
    with pytest.raises(RateLimited, match=r"421 4\.7\.0"):
        SMTPTransport(server.url()).send(msg("a@example.org", "b@example.org"))
    assert server.messages == []


def test_421_on_mail_with_pipelining_is_classified(fake):
    server = fake({"MAIL": "421 4.7.0 Try again later, closing connection. gsmtp"})
    with pytest.raises(RateLimited):
        SMTPTransport(server.url()).send(msg())


def test_declared_size_excludes_dot_stuffing_and_the_final_dot(fake):
    """RFC 1870: SIZE counts the message as sent, not the added dots or the ``.`` line (issue 14)."""
    server = fake()
    dotted = "\n".join(".line" for _ in range(200)) + "\n"
    SMTPTransport(server.url()).send(msg().replace(text=dotted))
    [mail] = [c for c in server.commands if c.upper().startswith("MAIL")]
    declared = int(mail.upper().split("SIZE=")[1].split()[0])
    [got] = server.messages
    assert declared == len(got["data"])  # the unstuffed message, final CRLF included


def test_message_just_under_the_limit_is_not_refused_for_its_dots(fake):
    server = fake(extensions=("PIPELINING", "SIZE 3000"))
    body = "\n".join("." for _ in range(800))  # 800 dots doubled on the wire
    message = msg().replace(text=body)
    from mailcore.render import render

    assert len(render(message)) < 3000 < len(render(message)) + 800 + 3
    SMTPTransport(server.url()).send(message)
    assert len(server.messages) == 1
