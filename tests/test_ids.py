"""mailcore.ids: uuid4-format ids cut from a buffered os.urandom, unique across threads and forks."""

from __future__ import annotations

import os
import re
import threading
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcore import Attachment, Message, ids
from mailcore.render import render

UUID4_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=3 * ids.CHUNK // 16))
def test_every_id_has_the_uuid4_hex_format_across_refills(count):
    """Whatever the position in a chunk (and across refills): what ``uuid.uuid4().hex`` gives."""
    for _ in range(count):
        value = ids.uuid4_hex()
        assert UUID4_HEX.fullmatch(value), value
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == value


def test_the_random_bits_are_not_stuck():
    """Every one of the 30 free hex digits takes several values over a few thousand ids."""
    values = [ids.uuid4_hex() for _ in range(4000)]
    free = [i for i in range(32) if i not in (12, 16)]
    for i in free:
        assert len({v[i] for v in values}) == 16, i
    assert {v[16] for v in values} == set("89ab")
    assert len(set(values)) == len(values)


def test_ids_are_unique_across_threads():
    per_thread = 3000
    found: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def take(bucket: list[str]) -> None:
        start.wait()
        bucket.extend(ids.uuid4_hex() for _ in range(per_thread))

    threads = [threading.Thread(target=take, args=(bucket,)) for bucket in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for bucket in found for value in bucket]
    assert len(every) == 8 * per_thread
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_never_repeats_the_parents_ids():
    """The child starts after the parent has buffered ids; it must not hand out the same ones."""
    ids.uuid4_hex()  # the buffer now holds ids the parent has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave without running the test teardown
        try:
            os.write(write, " ".join(ids.uuid4_hex() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [ids.uuid4_hex() for _ in range(50)]
    assert len(child) == 50 and all(UUID4_HEX.fullmatch(v) for v in child)
    assert not set(child) & set(parent)


def test_message_ids_content_ids_and_boundaries_keep_their_format():
    message = Message(
        "a@example.com",
        ["b@example.org"],
        "s",
        text="t",
        html="<p>h</p>",
        attachments=[Attachment("logo.png", b"\x89PNG", inline=True)],
    )
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message.message_id)
    assert re.fullmatch(r"[0-9a-f]{32}@mailcore", message.attachments[0].content_id or "")
    boundaries = re.findall(rb'boundary="=_mc_([0-9a-f]{32})"', render(message))
    assert boundaries and all(UUID4_HEX.fullmatch(b.decode()) for b in boundaries)
    assert len(set(boundaries)) == len(boundaries)
