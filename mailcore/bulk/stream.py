"""Ordered, bounded, concurrent mapping over an iterable of any length.

:func:`bounded_map` is how ``Mailer.send_iter`` and bulk sending keep memory flat: at most
``window`` items are taken from the input before their results are handed back, in input order,
so a generator of a million messages is never held at once. Work runs on ``concurrency``
threads (sends are I/O-bound); with ``concurrency=1`` everything runs in the caller's thread.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from mailcore.errors import ConfigurationError

__all__ = ["bounded_map", "chunked"]

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    concurrency: int = 1,
    window: int | None = None,
    name: str = "mailcore-send",
) -> Iterator[R]:
    """Yield ``function(item)`` for each item, in order, with at most ``window`` in flight.

    ``window`` defaults to twice ``concurrency``. If the consumer stops early, items not yet
    started are cancelled and the ones running finish before the generator closes.
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, not {concurrency}")
    if concurrency == 1:
        for item in items:
            yield function(item)
        return
    limit = max(window or 2 * concurrency, concurrency)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name)
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            context = contextvars.copy_context()
            pending.append(pool.submit(context.run, function, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items, read lazily."""
    if size < 1:
        raise ConfigurationError(f"batch size must be at least 1, not {size}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
