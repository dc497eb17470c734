"""dot_stuff_sized gives dot_stuff's bytes and message_size's count, for any data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailcore_smtp.wire import dot_stuff, dot_stuff_sized, message_size

lines = st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b"\n", b"\r", b".x", b"x.", b"\xc3\xa9"]), max_size=40)


@given(st.one_of(st.binary(max_size=200), lines.map(b"".join)))
def test_sized_matches_dot_stuff_and_message_size(data):
    stuffed, size = dot_stuff_sized(data)
    assert stuffed == dot_stuff(data)
    assert size == message_size(stuffed)


def test_size_counts_without_added_dots_and_terminator():
    stuffed, size = dot_stuff_sized(b".hidden\r\nline\r\n")
    assert stuffed == b"..hidden\r\nline\r\n.\r\n"
    assert size == len(b".hidden\r\nline\r\n")
