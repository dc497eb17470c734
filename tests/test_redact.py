"""mailcore.redact: masking by every encoding, control-character escaping, concealed tracebacks."""

from __future__ import annotations

import base64
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore.config import parse
from mailcore.errors import ConfigurationError
from mailcore.redact import PrintableArgs, Secret, mask_secrets, printable


@given(key=st.text(min_size=6, max_size=40), prefix=st.text(max_size=8), suffix=st.text(max_size=8))
def test_a_secret_inside_any_base64_blob_is_masked(key, prefix, suffix):
    """Mailgun echoes base64("api:KEY"); SMTP AUTH PLAIN is base64("\\0user\\0password")."""
    blob = base64.b64encode(f"{prefix}{key}{suffix}".encode()).decode()
    masked = mask_secrets(f"reply: {blob}", [Secret(key)])
    encoded = base64.b64encode(b"\0\0\0" + key.encode()).decode()[4:-4]
    assert len(encoded) < 8 or encoded not in masked


def test_mailgun_basic_auth_echo_is_masked():
    header = "Basic " + base64.b64encode(b"api:key-3ax6xnjp29jd6fds4gc373sgvjxteol0").decode()
    assert "***" in mask_secrets(f"401: {header}", ["key-3ax6xnjp29jd6fds4gc373sgvjxteol0"])
    assert base64.b64encode(b"3ax6xnjp29jd6fds").decode()[:8] not in mask_secrets(
        header, ["key-3ax6xnjp29jd6fds4gc373sgvjxteol0"]
    )


def test_raw_secrets_are_masked_in_any_case_and_percent_encoded():
    text = "host sg.abcdef.ghi/j and SG.abcdef.ghi%2Fj"
    assert mask_secrets(text, ["SG.abcdef.ghi/j"]) == "host *** and ***"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("ok\x1b]0;title\x07", "ok\\x1b]0;title\\x07"),
        ("a\r\nERROR forged", "a\\r\\nERROR forged"),
        ("\x9b2J \u202eevil", "\\x9b2J \\u202eevil"),
        ("plain text, ünïcödé", "plain text, ünïcödé"),
    ],
)
def test_printable_escapes_control_characters(raw, shown):
    assert printable(raw) == shown


def test_log_filter_escapes_arguments_and_tracebacks():
    record = logging.LogRecord("mailcore", logging.ERROR, __file__, 1, "failed: %s", ("x\x1b[2J\ny",), None)
    try:
        raise ValueError("boom\x1b]0;t\x07")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    PrintableArgs().filter(record)
    assert record.getMessage() == "failed: x\\x1b[2J\\ny"
    assert "\x1b" not in (record.exc_text or "") and "boom\\x1b]0;t\\x07" in (record.exc_text or "")


def test_configuration_errors_leave_parse_without_its_frames():
    with pytest.raises(ConfigurationError) as caught:
        parse(Secret("smtp://u:hunter22@host:notaport"))
    frames = []
    tb = caught.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    assert caught.value.__suppress_context__
    assert all("hunter22" not in repr(frame.f_locals) for frame in frames)
