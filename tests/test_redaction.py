"""The one redaction filter: secrets never reach logs, even when a command is split across reads."""

from __future__ import annotations

import io
import logging

from hypothesis import given
from hypothesis import strategies as st

from credwarden.log import RedactionFilter, StreamRedactor, configure_logging, describe_command, redact_text

KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n"
    "-----END PRIVATE KEY-----\n"
)
PSK = "6e7266393174657374"


def test_private_key_and_password_redacted() -> None:
    shown = redact_text(f'AT%CMNG=0,7,2,"{KEY}","hunter2"\r\n')
    assert "SECRET" not in shown and "hunter2" not in shown
    assert shown.startswith('AT%CMNG=0,7,2,"<redacted ')
    assert shown.count("<redacted") == 2
    assert f"<redacted {len(KEY)} bytes sha256=" in shown


def test_psk_redacted_and_public_content_kept() -> None:
    assert PSK not in redact_text(f'AT%CMNG=0,1,3,"{PSK}"')
    assert redact_text('AT%CMNG=0,1,0,"CERT"') == 'AT%CMNG=0,1,0,"CERT"'
    assert redact_text('AT%CMNG=0,1,4,"identity"') == 'AT%CMNG=0,1,4,"identity"'


def test_shell_echo_redacted() -> None:
    escaped = KEY.replace("\n", "\\n")
    shown = redact_text(f"uart:~$ at 'AT%CMNG=0,7,2,\"{escaped}\"'\r\n")
    assert "SECRET" not in shown


def test_abbreviated_form_for_messages() -> None:
    assert describe_command('AT%CMNG=0,1,0,"abc"') == 'AT%CMNG=0,1,0,"<3 bytes sha256=ba7816bf8f01cfea>"'


def test_unterminated_secret_is_redacted_at_flush() -> None:
    redactor = StreamRedactor()
    out = redactor.feed('AT%CMNG=0,7,2,"-----BEGIN SECRET')
    out += redactor.flush()
    assert "SECRET" not in out and "unterminated" in out


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60), st.sampled_from(["2", "3"]))
def test_split_at_any_boundary(cuts: list[int], type_code: str) -> None:
    text = f'junk\r\nAT%CMNG=0,16842753,{type_code},"{KEY}","pw12345"\r\nOK\r\n'
    redactor = StreamRedactor()
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(redactor.feed(text[pos : pos + cut]))
        pos += cut
    pieces.append(redactor.feed(text[pos:]))
    pieces.append(redactor.flush())
    joined = "".join(pieces)
    assert "SECRET" not in joined and "pw12345" not in joined
    assert joined == redact_text(text)
    assert joined.endswith("\r\nOK\r\n")


def test_logging_filter_cleans_messages() -> None:
    stream = io.StringIO()
    handler = configure_logging(debug=True, stream=stream)
    try:
        logging.getLogger("credwarden.test").debug("sending %s", f'AT%CMNG=0,7,2,"{KEY}"')
    finally:
        logging.getLogger("credwarden").removeHandler(handler)
        logging.getLogger("credwarden").setLevel(logging.NOTSET)
    assert "SECRET" not in stream.getvalue() and "<redacted" in stream.getvalue()
    assert isinstance(handler.filters[0], RedactionFilter)


def test_private_key_redacted_whatever_its_type() -> None:
    shown = redact_text(f'AT%CMNG=0,7,1,"{KEY}"')
    assert "SECRET" not in shown and "<redacted" in shown
    redactor = StreamRedactor()
    assert "SECRET" not in redactor.feed(f'AT%CMNG=0,7,0,"{KEY[:40]}') + redactor.flush()
