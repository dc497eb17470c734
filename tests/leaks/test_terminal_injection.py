"""Finding 9: a provider's reply never reaches a terminal or a log line raw.

The peers answer with ESC/OSC sequences (retitle the terminal, clear the screen) and CR/LF
(forge a log line). ``mailcore send``, ``outbox list``/``show``, ``check`` and mailcore's log
records must show them escaped.
"""

from __future__ import annotations

import logging
import sqlite3

from click.testing import CliRunner
from peers import EchoSMTP, echo_sink

from mailcore import Mailer, Message
from mailcore.cli import cli
from mailcore.outbox.worker import OutboxWorker

RAW = ("\x1b", "\x07", "\r")


def assert_inert(text: str) -> None:
    assert not any(char in text for char in RAW), repr(text)
    assert "\nERROR forged" not in text, repr(text)


def test_send_and_check_print_provider_replies_escaped():
    runner = CliRunner()
    smtp = EchoSMTP()
    with echo_sink() as http:
        for url in (f"sendgrid://KEY123456@?endpoint_url={http.url}", f"smtp://a:pw123456@127.0.0.1:{smtp.port}"):
            env = {"MAILCORE_URL": url}
            sent = runner.invoke(
                cli, ["send", "--from", "a@x.example", "--to", "b@x.example", "--subject", "s", "--text", "t"], env=env
            )
            assert sent.exit_code != 0 and "\\x1b]0;pwned" in sent.output
            assert_inert(sent.output)
            checked = runner.invoke(cli, ["check"], env=env)
            assert_inert(checked.output)
    smtp.close()


def test_outbox_list_and_show_and_logs_escape_the_last_error(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="mailcore")
    db = tmp_path / "outbox.db"
    with echo_sink() as http:
        mailer = Mailer(f"sendgrid://KEY123456@?endpoint_url={http.url}", retry=None, outbox=f"sqlite:///{db}")
        mailer.enqueue(Message("a@x.example", ["b@x.example"], "s", text="t"))
        worker = OutboxWorker(mailer, batch_size=5, poll_interval=0.01)
        worker.run_once()
        worker.close()
    stored = sqlite3.connect(db).execute("SELECT id, last_error FROM outbox").fetchone()
    assert "\x1b" in stored[1]  # stored as received: escaping happens on output
    env = {"MAILCORE_OUTBOX": f"sqlite:///{db}"}
    runner = CliRunner()
    for args in (["outbox", "list"], ["outbox", "show", stored[0]]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0
        assert_inert(result.output)
    records = [r for r in caplog.records if r.name.startswith("mailcore")]
    assert any("pwned" in r.getMessage() for r in records)
    for record in records:
        assert_inert(record.getMessage())
