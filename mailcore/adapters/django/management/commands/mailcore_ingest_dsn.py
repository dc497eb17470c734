"""``manage.py mailcore_ingest_dsn``: ``mailcore events ingest-dsn`` inside the Django project.

The same command, arguments and exit status (75 on a temporary failure, so an MTA retries),
run after Django is set up: the adapter's app config has registered the ``delivery_event``
signal bridge, so the project's signal receivers see every bounce. The events are stored where
the webhook views store them (Django's database when the outbox is there, see
:mod:`mailcore.adapters.django.events`). For a Postfix alias::

    bounces: "|/srv/app/.venv/bin/python /srv/app/manage.py mailcore_ingest_dsn -q"
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand  # type: ignore[import-untyped,unused-ignore]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = "Read RFC 3464 bounces (stdin, FILE or --maildir DIR) and send their delivery events."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", help="A bounce file, or - for standard input (the default).")
        parser.add_argument("--maildir", help="Read every message in DIR/new; move each one ingested to DIR/cur.")
        parser.add_argument("--recipient", help="The address the bounce was delivered to (its VERP token).")
        parser.add_argument("--json", action="store_true", help="Print one JSON document summarizing the events.")
        parser.add_argument("-q", "--quiet", action="store_true", help="Print nothing on success.")

    def handle(self, *args: Any, **options: Any) -> None:
        from mailcore.adapters.django.events import check_events_outbox
        from mailcore.adapters.django.signals import connect_bridge
        from mailcore.cli import cli
        from mailcore.webhooks.pipeline import EventPipeline, use_default_pipeline

        connect_bridge()  # also when the app's ready() ran before a plugin-manager reset
        outbox = check_events_outbox()
        if outbox is not None:  # the CLI dispatches to the process's default pipeline: make it that store's
            use_default_pipeline(EventPipeline(outbox))
        arguments = [options["file"]] if options["file"] else []
        for name in ("maildir", "recipient"):
            if options[name]:
                arguments += [f"--{name}", options[name]]
        arguments += ["--json"] * options["json"] + ["-q"] * options["quiet"]
        # click exits with the command's status (0, 1, 2 or 75); manage.py passes it on
        cli.main(args=["events", "ingest-dsn", *arguments], prog_name="manage.py mailcore_ingest_dsn")
