"""Random ids for Message-IDs, Content-IDs, MIME boundaries and outbox rows, without a system call each.

:func:`uuid4_hex` returns what ``uuid.uuid4().hex`` returns — 32 lower-case hex digits laid out
as a version-4 UUID (122 random bits from ``os.urandom``; the version nibble is ``4``, the
variant nibble one of ``89ab``) — but ``uuid.uuid4()`` reads 16 bytes of ``os.urandom`` per id:
one ``getrandom`` system call, which releases the GIL (a hand-off to another thread when
several send at once). Here the ids are cut from 4 KiB of ``os.urandom`` at a time (256 ids
per system call), from the same source, so the ids are just as unpredictable.

Thread-safe: ids are taken with ``deque.popleft`` (atomic, documented thread-safe), and the
refill runs under a lock; two threads never get the same id. Fork-safe: a child process
forgets the parent's unused ids (``os.register_at_fork``) and draws its own, so a forked worker
never repeats an id its parent hands out. (A process started any other way has its own buffer
anyway.)
"""

from __future__ import annotations

import os
import threading
from collections import deque

__all__ = ["CHUNK", "uuid4_hex"]

#: Bytes of ``os.urandom`` read per refill: 256 ids.
CHUNK = 4096
_ID_BYTES = 16
_PER_CHUNK = CHUNK // _ID_BYTES

# The version-4 UUID layout applied to a whole chunk at once: in every 16-byte id, byte 6 gets
# the version (0100xxxx) and byte 8 the RFC 4122 variant (10xxxxxx); every other bit stays random.
_KEEP = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _PER_CHUNK, "big")
_SET = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _PER_CHUNK, "big")

_ids: deque[str] = deque()
_refill_lock = threading.Lock()


def uuid4_hex() -> str:
    """A fresh random id, formatted like ``uuid.uuid4().hex`` (32 lower-case hex digits)."""
    try:
        return _ids.popleft()
    except IndexError:
        return _refill()


def _refill() -> str:
    with _refill_lock:
        try:  # another thread may have refilled while this one waited for the lock
            return _ids.popleft()
        except IndexError:
            pass
        raw = ((int.from_bytes(os.urandom(CHUNK), "big") & _KEEP) | _SET).to_bytes(CHUNK, "big").hex()
        width = 2 * _ID_BYTES
        fresh = [raw[i : i + width] for i in range(0, len(raw), width)]
        _ids.extend(fresh[1:])
        return fresh[0]


def _forget_in_child() -> None:
    """After ``fork``: drop the ids inherited from the parent and any lock a thread held there."""
    global _refill_lock
    _refill_lock = threading.Lock()
    _ids.clear()


if hasattr(os, "register_at_fork"):  # not on Windows (no fork there)
    os.register_at_fork(after_in_child=_forget_in_child)
