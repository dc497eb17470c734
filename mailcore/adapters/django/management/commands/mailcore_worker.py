"""``manage.py mailcore_worker``: deliver the outbox the Django settings queue into.

It builds the same Mailer as the email backend (``settings.MAILCORE`` or ``MAILERS[alias]``:
URL, RETRY, POLICY, QUEUE), so the worker sends with the policy the application configured and
reads the outbox it writes. Same status line and signal handling as ``mailcore worker``.

With ``QUEUE = "db"`` it drains the ``mailcore_outbox`` table of Django's database
(:mod:`mailcore.adapters.django.outbox`): on PostgreSQL run as many as you like (claims are
``SKIP LOCKED``); on SQLite run one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped,unused-ignore]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = "Deliver the mailcore outbox configured by settings.MAILCORE (or MAILERS[--using]) until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--using", default=None, help="A MAILERS alias (Django 6.1+); default: settings.MAILCORE.")
        parser.add_argument("--drain", action="store_true", help="Exit when nothing is due.")
        parser.add_argument(
            "--no-events",
            action="store_true",
            help="Do not handle stored delivery events beside the delivery loop.",
        )
        parser.add_argument("--batch-size", type=int, default=20, help="Messages claimed at once (default 20).")
        parser.add_argument("--status-interval", type=float, default=10.0, help="Seconds between status lines.")

    def handle(self, *args: Any, **options: Any) -> None:
        from mailcore.adapters.django.backend import EmailBackend
        from mailcore.cli.worker import run_worker

        alias = options["using"]
        if alias is None:
            backend = EmailBackend()
        else:
            mailers = getattr(settings, "MAILERS", None) or {}
            if alias not in mailers:
                raise CommandError(f"no MAILERS alias {alias!r}; configured: {', '.join(mailers) or 'none'}")
            backend = EmailBackend(alias=alias, **mailers[alias].get("OPTIONS", {}))
        queue = backend.options.queue
        where = "settings.MAILCORE['QUEUE']" if alias is None else f"MAILERS[{alias!r}]['OPTIONS']['queue']"
        if queue is False:
            raise CommandError(f"{where} is not set: this backend sends at once, there is no outbox to deliver")
        if queue == "celery":
            raise CommandError(f"{where} is 'celery': run a Celery worker (docs/operations.md), not this command")
        run_worker(
            backend.mailer,
            batch_size=options["batch_size"],
            drain=options["drain"],
            status_interval=options["status_interval"],
            outbox=_django_outbox(queue, where),
            events=not options["no_events"],
        )


def _django_outbox(queue: bool | str, where: str) -> Any:
    """The Django-database outbox ``QUEUE = "db"`` names (None for other queues), checked to
    have its tables: a worker started before ``migrate`` says so instead of failing each poll."""
    from django.db import connections  # type: ignore[import-untyped,unused-ignore]

    from mailcore.adapters.django.options import django_outbox_url
    from mailcore.adapters.django.outbox import open_django_outbox

    url = django_outbox_url(queue)
    if url is None:
        return None
    store = open_django_outbox(url)
    tables = set(connections[store.using].introspection.table_names())
    missing = [table for table in ("mailcore_outbox", "mailcore_idempotency") if table not in tables]
    if missing:
        raise CommandError(
            f"{where} is {queue!r}, but the database {store.using!r} has no {' or '.join(missing)} table: "
            f"run `python manage.py migrate --database {store.using}` first"
        )
    return store
