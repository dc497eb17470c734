"""Core's own plugin: registers the ``memory`` transport and the queue backends through the same
hooks as any plugin.

Queue backends are named by ``"module:attr"`` strings, so the core imports none of them (Celery,
psycopg, Django) until a queue of that kind is opened.
"""

from __future__ import annotations

from mailcore.capabilities import Capability
from mailcore.plugins import hookimpl
from mailcore.registry import QueueRegistry, TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "memory",
        "mailcore.transports.memory:MemoryTransport.from_url",
        description="keeps messages in a list (tests)",
        capabilities=[c.value for c in Capability],
    )


#: The queue backends mailcore ships: scheme → (factory, description).
CORE_QUEUES = {
    "sqlite": ("mailcore.outbox.store:open_outbox", "SQLite outbox file (default): sqlite:///path"),
    "celery": ("mailcore.adapters.celery:open_celery_queue", "the mailcore.deliver Celery task: celery"),
    "postgresql": (
        "mailcore.outbox.postgres:open_postgres_outbox",
        "PostgreSQL outbox table: postgresql://user@host/db",
    ),
    "postgres": ("mailcore.outbox.postgres:open_postgres_outbox", "alias of postgresql"),
    "django": (
        "mailcore.adapters.django.outbox:open_django_outbox",
        "the outbox table in Django's database (MAILCORE QUEUE 'db'): django or django://alias",
    ),
}


@hookimpl
def mailcore_register_queues(registry: QueueRegistry) -> None:
    for scheme, (factory, description) in CORE_QUEUES.items():
        registry.add(scheme, factory, description=description)
