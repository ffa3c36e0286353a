"""Tier 1: %CMNG builders and parsers on strings (modem-behaviour.md#answer-shapes, real transcripts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credwarden.at.cmng import (
    delete_command,
    list_command,
    parse_list_line,
    parse_list_response,
    parse_read_response,
    read_command,
    write_command,
)
from credwarden.errors import ProtocolError, ValidationError
from credwarden.models import StoredEntry

TRANSCRIPTS = Path(__file__).resolve().parent / "fixtures" / "transcripts"
SHA = "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'%CMNG: 42,0,"{SHA}"', StoredEntry(42, 0, SHA)),
        (f'%CMNG: 42,0,"{SHA}"\r', StoredEntry(42, 0, SHA)),
        (f'%CMNG: 12345678, 0, "{SHA.lower()}"', StoredEntry(12345678, 0, SHA)),
        (f"%CMNG: 7,1,{SHA}", StoredEntry(7, 1, SHA)),
        ("%CMNG: 7,1", StoredEntry(7, 1, None)),
        ('%CMNG: 7,1,""', StoredEntry(7, 1, None)),
        (f'%CMNG: 4294967292,11,"{SHA}"', StoredEntry(4294967292, 11, SHA)),
        (f'%CMNG: 5,99,"{SHA}"', StoredEntry(5, 99, SHA)),
        ('%CMNG: 12345678, 0, "978C...02C4"', StoredEntry(12345678, 0, "978C...02C4")),
        ("#XCMNG: 11,4", StoredEntry(11, 4, None)),
        (f'%CMNG: 9,0,"{SHA}","-----BEGIN CERTIFICATE-----\r\nAA\r\n"', StoredEntry(9, 0, SHA)),
    ],
)
def test_parse_list_line_tolerant(line: str, expected: StoredEntry) -> None:
    assert parse_list_line(line) == expected


@pytest.mark.parametrize("line", ["OK", "+CEREG: 5", "%CMNG:", "%CMNG: x,0", "", "%CMNG: 4294967296,0", "CMNG: 1,0"])
def test_parse_list_line_rejects(line: str) -> None:
    assert parse_list_line(line) is None


def test_placeholder_digests_from_real_transcript() -> None:
    text = (TRANSCRIPTS / "link-monitor-log-cmng-list.txt").read_text()
    lines = [m.group(1) for m in re.finditer(r"<< (%CMNG: .*)$", text, re.MULTILINE)]
    entries, rejected = parse_list_response(lines)
    assert not rejected
    assert len(entries) == 14
    assert (4294967292, 11) in {(e.sec_tag, e.type) for e in entries}
    assert all(e.placeholder_digest for e in entries)


def test_sms_reply_transcript() -> None:
    text = (TRANSCRIPTS / "sms-reply-cmng-one-tag.txt").read_text()
    entries = [e for e in (parse_list_line(line) for line in text.splitlines()) if e]
    assert entries and entries[0].sec_tag == 16842753 and entries[0].placeholder_digest


def test_parse_read_response_byte_exact() -> None:
    content = "-----BEGIN CERTIFICATE-----\r\nMIIB\nxyz\r\n-----END CERTIFICATE-----\r\n"
    entry, data = parse_read_response(f'%CMNG: 12345678,0,"978C","{content}"')
    assert entry == StoredEntry(12345678, 0, "978C")
    assert data == content.encode()


def test_parse_read_response_slm_empty_sha() -> None:
    entry, data = parse_read_response('%CMNG: 3,4,"","nrf91test"')
    assert entry.sha256 is None and data == b"nrf91test"


def test_parse_read_response_without_content() -> None:
    with pytest.raises(ProtocolError):
        parse_read_response(f'%CMNG: 3,0,"{SHA}"')


@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=126, blacklist_characters='"'), min_size=1))
def test_read_roundtrip_any_content(content: str) -> None:
    _, data = parse_read_response(f'%CMNG: 1,0,"{SHA}","{content}"')
    assert data == content.encode("latin-1")


def test_builders() -> None:
    assert list_command() == "AT%CMNG=1"
    assert list_command(5) == "AT%CMNG=1,5"
    assert list_command(5, 0) == "AT%CMNG=1,5,0"
    assert read_command(5, 4) == "AT%CMNG=2,5,4"
    assert delete_command(5, 2) == "AT%CMNG=3,5,2"
    assert write_command(5, 0, b"abc\n") == 'AT%CMNG=0,5,0,"abc\n"'
    assert write_command(5, 2, b"k", "pw") == 'AT%CMNG=0,5,2,"k","pw"'


@pytest.mark.parametrize(
    ("content", "password", "reason"),
    [
        (b"", None, "empty"),
        (b'a"b', None, "double quote"),
        (b"a\x00b", None, "NUL"),
        ("é".encode(), None, "non-ASCII"),
        (b"x" * 4096, None, "over"),
        (b"x", "p" * 33, "1..32"),
        (b"x", 'p"', "double quote"),
    ],
)
def test_write_refused_before_sending(content: bytes, password: str | None, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        write_command(1, 0, content, password)


def test_write_size_limit_exact() -> None:
    head = len('AT%CMNG=0,1,0,""')
    assert len(write_command(1, 0, b"x" * (4096 - head))) == 4096
    with pytest.raises(ValidationError):
        write_command(1, 0, b"x" * (4097 - head))


def test_type_without_tag_refused() -> None:
    with pytest.raises(ValidationError):
        list_command(None, 0)
