"""``MailHandler``: a :class:`logging.Handler` that mails log records through a mailcore Mailer.

Like :class:`logging.handlers.SMTPHandler`, with what an alerting handler needs in production::

    handler = MailHandler("failover(smtp://relay:587 ses://?region=eu-west-1)",
                          fromaddr="alerts@example.com", toaddrs=["ops@example.com"],
                          subject="[app] %(levelname)s: %(message)s")
    logging.getLogger().addHandler(handler)

* **throttled**: at most ``max_mails`` mails per ``per`` seconds (a sliding window). Records
  over the limit are counted, and the next mail (or :meth:`close`) starts with a summary:
  ``"1532 more log records were not mailed since 12:00:04 (ERROR: 1530, CRITICAL: 2)"``;
* **never raises** from :meth:`emit`: a failed send goes to :meth:`logging.Handler.handleError`;
* **no feedback loop**: mailcore logs on the ``mailcore`` logger while it sends; those records
  are ignored on the sending thread, and never wait for the send in progress on other threads,
  so a handler attached to the root logger cannot recurse or deadlock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mailcore.message import Message
from mailcore.validate import safe_header_text

if TYPE_CHECKING:
    from mailcore.mailer import Mailer

__all__ = ["MailHandler"]

MAX_SUBJECT = 200
_MAILCORE_LOGGER = "mailcore"
#: (summary text, suppressed counts by level, wall-clock time of the first suppressed record)
_Summary = tuple[str, Counter[str], float | None]


class MailHandler(logging.Handler):
    """Mail each record (as :class:`~logging.handlers.SMTPHandler` does), throttled.

    :param mailer: a :class:`mailcore.Mailer`, a transport URL, or None for
        :meth:`mailcore.Mailer.from_env` (``MAILCORE_URL``). A URL or None is built on the first
        record and closed by :meth:`close`; a Mailer you pass stays yours.
    :param fromaddr: the sender.
    :param toaddrs: one address or a list.
    :param subject: the subject; ``%(name)s``-style record fields are filled in
        (``"%(levelname)s: %(message)s"``). Line breaks are folded, length capped.
    :param max_mails: at most this many mails per ``per`` seconds.
    :param per: the throttle window in seconds.
    :param level: records below this level are ignored (default ``ERROR``).
    :param clock: a monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        mailer: Mailer | str | None,
        fromaddr: str,
        toaddrs: str | Sequence[str],
        subject: str = "%(levelname)s: %(message)s",
        *,
        max_mails: int = 10,
        per: float = 600.0,
        level: int = logging.ERROR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        if max_mails < 1 or per <= 0:
            raise ValueError("max_mails must be at least 1 and per must be positive")
        self._mailer_spec = mailer
        self._mailer: Mailer | None = None if mailer is None or isinstance(mailer, str) else mailer
        self._owns_mailer = self._mailer is None
        self.fromaddr = fromaddr
        self.toaddrs = [toaddrs] if isinstance(toaddrs, str) else list(toaddrs)
        self.subject = subject
        self.max_mails = max_mails
        self.per = per
        self._clock = clock
        self._sent_at: deque[float] = deque()
        self._suppressed: Counter[str] = Counter()
        self._suppressed_since: float | None = None
        self._state_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._local = threading.local()

    # -- logging.Handler -------------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter, then :meth:`emit` without holding the handler-wide lock.

        ``logging.Handler.handle`` holds ``self.lock`` around ``emit``; a send that takes
        seconds would then block every other thread's logging, and a mailcore thread logging
        during the send could deadlock with it. :meth:`emit` does its own locking instead.
        """
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):
            record = result
        if result:
            self.emit(record)
        return bool(result)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "sending", False):
            return  # mailcore logging about the mail we are sending right now
        from_mailcore = record.name == _MAILCORE_LOGGER or record.name.startswith(_MAILCORE_LOGGER + ".")
        if not self._send_lock.acquire(blocking=not from_mailcore):
            self._count_suppressed(record)  # never wait for a send in progress from mailcore code
            return
        try:
            pending = self._reserve(record)
            if pending is None:
                return
            summary, counts, since = pending
            self._local.sending = True
            try:
                self._send(self.getSubject(record), self._body(record, summary))
            except Exception:
                self._restore(counts, since, record)  # the next mail still reports them
                self.handleError(record)
            finally:
                self._local.sending = False
        finally:
            self._send_lock.release()

    def close(self) -> None:
        """Mail the summary of records not mailed yet, then close a Mailer this handler built."""
        try:
            with self._send_lock:
                summary = self._take_summary()[0]
                if summary:
                    self._local.sending = True
                    try:
                        self._send(f"{summary.split(' since ')[0]}", summary)
                    except Exception:
                        self.handleError(_summary_record(summary))
                    finally:
                        self._local.sending = False
                if self._owns_mailer and self._mailer is not None:
                    self._mailer.close()
                    self._mailer = None
        finally:
            super().close()

    # -- formatting ------------------------------------------------------------------------

    def getSubject(self, record: logging.LogRecord) -> str:  # SMTPHandler spells it so
        """The subject for ``record``: ``subject`` with record fields, on one line.

        Whatever the record holds, the subject passes the header gate (:mod:`mailcore.validate`):
        control characters become U+FFFD and ``=?`` never starts an encoded word.
        """
        try:
            record.message = record.getMessage()
            text = self.subject % record.__dict__ if "%(" in self.subject else self.subject
        except (KeyError, TypeError, ValueError):
            text = self.subject
        text = safe_header_text(" ".join(text.split()))  # a log line must not fail the alert
        return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"

    def _body(self, record: logging.LogRecord, summary: str) -> str:
        body = self.format(record)
        return f"{summary}\n\n{body}" if summary else body

    # -- throttle --------------------------------------------------------------------------

    def _reserve(self, record: logging.LogRecord) -> _Summary | None:
        """Take a slot in the window and the pending summary; None when over the limit."""
        with self._state_lock:
            now = self._clock()
            while self._sent_at and now - self._sent_at[0] >= self.per:
                self._sent_at.popleft()
            if len(self._sent_at) >= self.max_mails:
                self._count_suppressed_locked(record)
                return None
            self._sent_at.append(now)
            return self._take_summary_locked()

    def _count_suppressed(self, record: logging.LogRecord) -> None:
        with self._state_lock:
            self._count_suppressed_locked(record)

    def _count_suppressed_locked(self, record: logging.LogRecord) -> None:
        if not self._suppressed:
            self._suppressed_since = time.time()
        self._suppressed[record.levelname] += 1

    def _restore(self, counts: Counter[str], since: float | None, record: logging.LogRecord) -> None:
        with self._state_lock:
            self._suppressed.update(counts)
            self._suppressed[record.levelname] += 1
            earliest = [t for t in (since, self._suppressed_since) if t is not None]
            self._suppressed_since = min(earliest) if earliest else time.time()

    def _take_summary(self) -> _Summary:
        with self._state_lock:
            return self._take_summary_locked()

    def _take_summary_locked(self) -> _Summary:
        counts, since = Counter(self._suppressed), self._suppressed_since
        self._suppressed.clear()
        self._suppressed_since = None
        if not counts:
            return "", counts, since
        total = sum(counts.values())
        levels = ", ".join(f"{level}: {count}" for level, count in sorted(counts.items()))
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since or time.time()))
        noun = "record was" if total == 1 else "records were"
        text = (
            f"{total} more log {noun} not mailed since {when} ({levels}); "
            f"at most {self.max_mails} mails are sent per {self.per:g} s."
        )
        return text, counts, since

    # -- sending ---------------------------------------------------------------------------

    def _send(self, subject: str, body: str) -> None:
        mailer = self._get_mailer()
        mailer.send(Message(self.fromaddr, self.toaddrs, subject, text=body))

    def _get_mailer(self) -> Mailer:
        if self._mailer is None:
            from mailcore.mailer import Mailer

            spec = self._mailer_spec
            self._mailer = Mailer.from_env() if spec is None else Mailer.from_url(str(spec))
        return self._mailer


def _summary_record(summary: str) -> logging.LogRecord:
    return logging.LogRecord(_MAILCORE_LOGGER, logging.ERROR, __file__, 0, summary, None, None)
