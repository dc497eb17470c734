"""``mailcore send``: send one message from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from mailcore.errors import SendError, failure_summary
from mailcore.mailer import FROM_ENV, URL_ENV, Mailer, failure_log_level
from mailcore.message import Attachment, Message
from mailcore.redact import printable

#: Exit status when the message went out but some recipients were refused.
EXIT_SOME_REFUSED = 3


@click.command("send")
@click.option("--url", envvar=URL_ENV, help=f"Transport URL or policy expression (default: ${URL_ENV}).")
@click.option("--from", "from_email", envvar=FROM_ENV, help=f"Sender address (default: ${FROM_ENV}).")
@click.option("--to", multiple=True, help="Recipient; repeat for several.")
@click.option("--cc", multiple=True, help="Cc recipient; repeatable.")
@click.option("--bcc", multiple=True, help="Bcc recipient; repeatable.")
@click.option("--reply-to", "reply_to", multiple=True, help="Reply-To address; repeatable.")
@click.option("--subject", required=True, help="Subject line.")
@click.option("--text", help="Plain-text body.")
@click.option(
    "--text-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the text body from a file."
)
@click.option("--html", help="HTML body.")
@click.option(
    "--html-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the HTML body from a file."
)
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Attach a file; repeatable.",
)
@click.option("--header", multiple=True, help="Extra header 'Name: value'; repeatable.")
def command(
    url: str | None,
    from_email: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str,
    text: str | None,
    text_file: Path | None,
    html: str | None,
    html_file: Path | None,
    attach: tuple[Path, ...],
    header: tuple[str, ...],
) -> None:
    """Send one message and print which transport delivered it.

    \b
    Exit status:
      0  sent to every recipient
      1  not sent (bad configuration, invalid message, every transport failed)
      2  bad command-line usage
      3  sent, but the provider refused some recipients (listed on stderr);
         do not resend as is: the others have it
    """
    if not url:
        raise click.UsageError(f"no transport: pass --url or set {URL_ENV}")
    if not from_email:
        raise click.UsageError(f"no sender: pass --from or set {FROM_ENV}")
    if not (to or cc or bcc):
        raise click.UsageError("no recipient: pass --to (or --cc/--bcc)")
    if (text and text_file) or (html and html_file):
        raise click.UsageError("give a body inline or from a file, not both")
    message = Message(
        from_email,
        list(to),
        subject,
        text=_read_text(text_file, "--text-file") if text_file else text,
        html=_read_text(html_file, "--html-file") if html_file else html,
        cc=list(cc),
        bcc=list(bcc),
        reply_to=list(reply_to),
        attachments=[Attachment(path.name, path.read_bytes()) for path in attach],
        headers=_headers(header),
    )
    with Mailer.from_url(url) as mailer, failure_log_level(None):  # the error is printed once, below
        try:
            result = mailer.send(message)
        except SendError as error:
            raise click.ClickException(f"not sent: {message.message_id}: {failure_summary(error)}") from None
    tries = len(result.attempts)
    click.echo(  # a provider's id and reasons came from the network: escaped, never interpreted
        f"sent {result.message_id} via {printable(result.transport)}"
        + (f" (provider id {printable(result.provider_message_id)})" if result.provider_message_id else "")
        + (f" after {tries} attempts" if tries > 1 else "")
    )
    for recipient, reason in result.rejected.items():
        click.echo(f"refused {printable(recipient)}: {printable(reason)}", err=True)
    if result.rejected:
        raise SystemExit(EXIT_SOME_REFUSED)


def _headers(pairs: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not 'Name: value'", param_hint="--header")
        headers[name.strip()] = value.strip()
    return headers


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not UTF-8 text", param_hint=option) from None
