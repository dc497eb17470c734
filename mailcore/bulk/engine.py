"""The bulk engine: stream recipients into batches, send them concurrently, yield results.

Recipients are read lazily in groups of ``batch_size``; at most ``2 × concurrency`` groups are in
flight, and results come back in recipient order, so memory stays flat however many recipients
the iterable yields. When some transport in the stack offers ``send_batch`` (SendGrid, Mailgun,
SES), each group goes through the batch twin of the policy stack (:mod:`mailcore.bulk.route`);
otherwise each recipient's message is rendered and sent through the Mailer, concurrently.

A group the provider refuses as a whole with :class:`~mailcore.errors.MessageRejected` (one bad
address in a SendGrid request makes it answer 400) is split in halves and each half is sent
again, until the refused recipients are isolated and everybody else is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mailcore.bulk.model import Batch, BatchItem, BulkTemplate, Recipient, RecipientResult
from mailcore.bulk.route import BatchState, accepts_batch, batch_route, current_state, leaves
from mailcore.bulk.stream import bounded_map, chunked
from mailcore.capabilities import ensure_carriable
from mailcore.errors import ConfigurationError, DeliveryFailed, InvalidMessage, MessageRejected, SendError
from mailcore.message import Message
from mailcore.plugins import has_observers, notify
from mailcore.redact import install_log_filter
from mailcore.result import Attempt
from mailcore.transport import Transport

if TYPE_CHECKING:
    from mailcore.sender import Sender

__all__ = ["DEFAULT_BATCH_SIZE", "BulkSender", "send_bulk"]

log = install_log_filter(logging.getLogger("mailcore"))

#: Recipients per group when no transport in the stack has a batch API (per-message sending).
DEFAULT_BATCH_SIZE = 100

RecipientLike = Recipient | Mapping[str, Any] | str


def send_bulk(
    mailer: Sender,
    template: Message,
    recipients: Iterable[RecipientLike],
    *,
    concurrency: int = 4,
    batch_size: int | None = None,
) -> Iterator[RecipientResult]:
    """Send ``template`` personalized for each recipient; yield one result per recipient, in order.

    See :meth:`mailcore.Mailer.send_bulk`.
    """
    sender = BulkSender(mailer, template, concurrency=concurrency, batch_size=batch_size)
    return sender.run(recipients)


class BulkSender:
    """One bulk run: the parsed template, the batch route and the sizing decisions."""

    def __init__(
        self,
        mailer: Sender,
        template: Message,
        *,
        concurrency: int = 4,
        batch_size: int | None = None,
    ) -> None:
        ensure_carriable(mailer.transport, template)  # before any recipient is read
        self.mailer = mailer
        self.template = BulkTemplate(template)
        self.concurrency = concurrency
        self.route = _batch_route_or_none(mailer.transport, template)
        capacity = _batch_capacity(mailer.transport, template) if self.route is not None else 0
        self.batch_size = batch_size or capacity or DEFAULT_BATCH_SIZE
        if batch_size is not None and batch_size < 1:
            raise InvalidMessage("batch_size", f"must be at least 1, not {batch_size}")

    @property
    def uses_batches(self) -> bool:
        """Whether groups go to a provider batch API (else one message per recipient)."""
        return self.route is not None

    def run(self, recipients: Iterable[RecipientLike]) -> Iterator[RecipientResult]:
        groups = chunked(enumerate(recipients), self.batch_size)
        with self.mailer:
            if self.route is not None:
                for results in bounded_map(
                    self._send_group, groups, concurrency=self.concurrency, name="mailcore-bulk"
                ):
                    yield from results
            else:
                singles = (pair for group in groups for pair in group)
                yield from bounded_map(self._send_single, singles, concurrency=self.concurrency, name="mailcore-bulk")

    # -- batch path ----------------------------------------------------------------------

    def _send_group(self, group: list[tuple[int, RecipientLike]]) -> list[RecipientResult]:
        items, invalid = self._prepare(group)
        results: list[RecipientResult] = []
        for run in _unique_runs(items):
            results.extend(self._deliver(run))
        if invalid:
            results = sorted([*results, *invalid], key=_index)
        if has_observers("mailcore_message_sent"):
            self._notify(results, items)
        return results

    def _prepare(self, group: list[tuple[int, RecipientLike]]) -> tuple[list[BatchItem], list[RecipientResult]]:
        items: list[BatchItem] = []
        failed: list[RecipientResult] = []
        template = self.template
        for index, raw in group:
            try:
                recipient = Recipient.coerce(raw)
            except InvalidMessage as error:
                failed.append(RecipientResult(Recipient(str(raw)[:200]), False, error=error, index=index))
                continue
            try:
                items.append(template.item(index, recipient))
            except InvalidMessage as error:
                failed.append(RecipientResult(recipient, False, error=error, index=index))
        return items, failed

    def _deliver(self, items: Sequence[BatchItem]) -> list[RecipientResult]:
        """Send ``items`` through the batch route; split and resend when the batch is refused."""
        assert self.route is not None
        state = BatchState(Batch(self.template, items))
        stand_in = self.template.message.replace(message_id=items[0].message_id)
        token = current_state().set(state)
        try:
            outcome = self.route.send(stand_in)
        except SendError as error:
            pending = state.batch.items
            if _refused_whole(error) and len(pending) > 1:
                middle = len(pending) // 2
                return [*state.results, *self._deliver(pending[:middle]), *self._deliver(pending[middle:])]
            attempts = _attempts_of(error)
            failed = [state.batch.refused(item, error.transport or "?", error) for item in pending]
            for result in failed:
                result.attempts = attempts
            return [*state.results, *failed]
        finally:
            current_state().reset(token)
        if len(outcome.attempts) > 1:
            for result in state.results:
                result.attempts = outcome.attempts
        return state.results

    def _notify(self, results: list[RecipientResult], items: list[BatchItem]) -> None:
        """Observer hooks per delivered recipient (messages are rendered only when observed)."""
        from mailcore.result import SendResult

        by_index = {item.index: item for item in items}
        for result in results:
            item = by_index.get(result.index)
            if result.ok and item is not None:
                sent = SendResult(item.message_id, result.transport or "?", result.provider_message_id, result.attempts)
                notify("mailcore_message_sent", message=self.template.render(item), result=sent)

    # -- per-message path ----------------------------------------------------------------

    def _send_single(self, pair: tuple[int, RecipientLike]) -> RecipientResult:
        items, failed = self._prepare([pair])
        if failed:
            return failed[0]
        item = items[0]
        try:
            message = self.template.render(item)
            sent = self.mailer.send(message)
        except (SendError, InvalidMessage) as error:
            attempts = _attempts_of(error) if isinstance(error, SendError) else ()
            transport = error.transport if isinstance(error, SendError) else None
            return RecipientResult(item.recipient, False, item.message_id, None, error, transport, item.index, attempts)
        return RecipientResult(
            item.recipient,
            True,
            item.message_id,
            sent.provider_message_id,
            None,
            sent.transport,
            item.index,
            sent.attempts,
        )


def _index(result: RecipientResult) -> int:
    return result.index


def _batch_route_or_none(transport: Transport, template: Message) -> Transport | None:
    if not any(accepts_batch(leaf, template) for leaf in leaves(transport)):
        return None
    try:
        return batch_route(transport)
    except ConfigurationError as error:  # an unknown policy layer: fall back to per-message sends
        log.warning("bulk: sending one message per recipient (%s)", error)
        return None


def _batch_capacity(transport: Transport, template: Message) -> int:
    """The largest provider batch any transport in the stack takes (smaller ones sub-split)."""
    leaves_ = [leaf for leaf in leaves(transport) if accepts_batch(leaf, template)]
    sizes = [int(getattr(leaf, "max_batch_size", 0) or 0) for leaf in leaves_]
    return max(sizes, default=0)


def _unique_runs(items: list[BatchItem]) -> Iterator[list[BatchItem]]:
    """Split ``items`` so that no address appears twice in one provider request."""
    seen: set[str] = set()
    run: list[BatchItem] = []
    for item in items:
        key = item.address.email.lower()
        if key in seen:
            yield run
            run, seen = [], set()
        seen.add(key)
        run.append(item)
    if run:
        yield run


def _refused_whole(error: SendError) -> bool:
    """The provider refused the request because of its content: worth splitting to isolate."""
    root: BaseException | None = error
    while isinstance(root, DeliveryFailed):
        root = root.last_error
    return isinstance(root, MessageRejected) and not root.recipients


def _attempts_of(error: SendError) -> tuple[Attempt, ...]:
    if isinstance(error, DeliveryFailed):
        return error.attempts
    return (Attempt(error.transport or "?", error, 0.0),)
