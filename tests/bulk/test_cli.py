"""``mailcore send-bulk`` against memory:// with a CSV: sending, summary, dry run, failures file."""

import csv
import uuid

from click.testing import CliRunner

from mailcore.cli import cli
from mailcore.testing import outbox

ROWS = [
    {"email": "ann@example.org", "name": "Ann", "plan": "gold", "meta.row": "1"},
    {"email": "bob@example.org", "name": "Bob", "plan": "", "meta.row": "2"},
    {"email": "not an address", "name": "Cy", "plan": "free", "meta.row": "3"},
    {"email": "dee@example.org", "name": "Dee", "plan": "silver", "meta.row": "4"},
]


def write_csv(path, rows, columns=("email", "name", "plan", "meta.row")):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(*args):
    return CliRunner().invoke(cli, ["send-bulk", *args], catch_exceptions=False)


def test_send_bulk_sends_each_row_and_prints_a_summary(tmp_path):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    recipients = write_csv(tmp_path / "r.csv", [r for r in ROWS if r["email"] != "not an address"])
    text = tmp_path / "t.txt"
    text.write_text("Dear {name}, your plan: {plan}.")
    html = tmp_path / "t.html"
    html.write_text("<style>p { color: red }</style><p>{name}</p>")
    result = run("--url", f"memory://{name}", "--from", "news@example.com", "--subject", "Hi {name}",
                 "--text-file", str(text), "--html-file", str(html), "--csv", str(recipients))  # fmt: skip
    assert result.exit_code == 0, result.output
    sent = {m.to[0].email: m for m in outbox(name)}
    assert sorted(sent) == ["ann@example.org", "bob@example.org", "dee@example.org"]
    assert sent["ann@example.org"].text == "Dear Ann, your plan: gold."
    assert sent["ann@example.org"].html == "<style>p { color: red }</style><p>Ann</p>"
    assert sent["dee@example.org"].metadata == {"row": "4"}
    assert "send-bulk summary" in result.output and f"memory://{name}" in result.output
    assert "3" in result.output


def test_failures_are_written_to_a_csv_that_can_be_sent_again(tmp_path):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    recipients = write_csv(tmp_path / "r.csv", ROWS)
    failures = tmp_path / "failed.csv"
    result = run("--url", f"memory://{name}", "--from", "news@example.com", "--subject", "Hi {name}",
                 "--text", "plan {plan} {missing}", "--csv", str(recipients), "--failures", str(failures))  # fmt: skip
    assert result.exit_code == 1
    rows = list(csv.DictReader(failures.open()))
    assert [r["email"] for r in rows] == [r["email"] for r in ROWS]  # {missing} fails everyone
    assert rows[0]["meta.row"] == "1" and rows[0]["plan"] == "gold"
    assert "{missing}" in rows[0]["error"] and "ann@example.org" in rows[0]["error"]
    assert "not an address" in rows[2]["error"]
    # fix the template and re-run with the failures file: the error column is ignored
    again = run("--url", f"memory://{name}", "--from", "news@example.com", "--subject", "Hi {name}",
                "--text", "plan {plan}", "--csv", str(failures), "--failures", str(tmp_path / "f2.csv"))  # fmt: skip
    assert again.exit_code == 3  # partial: only the bad address is left
    assert [r["email"] for r in csv.DictReader((tmp_path / "f2.csv").open())] == ["not an address"]
    assert len(outbox(name)) == 3 and "error" not in outbox(name)[0].text


def test_dry_run_renders_the_first_messages_and_sends_nothing(tmp_path):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    recipients = write_csv(tmp_path / "r.csv", ROWS)
    result = run("--url", f"memory://{name}", "--from", "news@example.com", "--subject", "Hi {name}",
                 "--text", "plan {plan}", "--html", "<b>{name}</b>", "--csv", str(recipients), "--dry-run", "3")  # fmt: skip
    assert result.exit_code == 1, result.output  # a row failed to render: a CI gate fails
    assert "2 rendered, 1 failed to render" in result.output
    assert outbox(name) == []
    assert "To: Ann <ann@example.org>" in result.output and "Subject: Hi Ann" in result.output
    assert "plan gold" in result.output and "<b>Bob</b>" in result.output
    assert "not an address" in result.output  # the third row's error is shown
    assert "dee@example.org" not in result.output  # only the first 3
    assert "nothing was sent" in result.output


def test_csv_without_an_email_column_is_a_clear_error(tmp_path):
    recipients = write_csv(tmp_path / "r.csv", [{"mail": "a@example.org"}], columns=("mail",))
    result = CliRunner().invoke(cli, ["send-bulk", "--url", "memory://x", "--from", "n@example.com",
                                      "--subject", "s", "--text", "t", "--csv", str(recipients)])  # fmt: skip
    assert result.exit_code == 1 and "needs an 'email' column" in result.output
