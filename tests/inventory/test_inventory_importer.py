"""Importing captured `%CMNG` output: real fixtures (tier 3) and synthetic terminal captures (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from credwarden.inventory import Inventory
from credwarden.inventory.importer import REPORT_WIDTH, clean_line, parse_capture, parse_log_time
from credwarden.models import StoredEntry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"
LINK_MONITOR = FIXTURES / "link-monitor-log-cmng-list.txt"
SMS = FIXTURES / "sms-reply-cmng-one-tag.txt"
A, B = "A" * 64, "B" * 64


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_link_monitor_log() -> None:
    parsed = parse_capture(_read(LINK_MONITOR))
    [listing] = parsed.listings
    assert parsed.unreadable == [] and parsed.ignored == 2  # the command and the OK
    assert listing.taken_at == datetime(2022, 4, 26, 8, 57, 28, 575000, tzinfo=UTC)
    assert len(listing.entries) == 14 and listing.answered and listing.only_sec_tag is None
    assert listing.entries[0] == StoredEntry(0, 6, "06" * 32)
    assert StoredEntry(4294967292, 11, "0B" * 32) in listing.entries
    assert all(e.placeholder_digest for e in listing.entries)  # mfw of that era printed placeholders


def test_sms_reply_single_line() -> None:
    parsed = parse_capture(_read(SMS))
    [listing] = parsed.listings
    assert listing.entries == [StoredEntry(16842753, 0, "00" * 32)]
    assert listing.taken_at is None and parsed.unreadable == []


def test_terminal_capture_with_echo_prompts_ansi_and_noise() -> None:
    capture = (
        "\x1b[1;32muart:~$ \x1b[0mat AT%CMNG=1\r\n"
        f'%CMNG: 1,0,"{A}"\r\n'
        '+CEREG: 5,"4E2A","01A2D101",7\r\n'
        "%CMNG: 2,\r\n"
        f'%CMNG: 3,1,"{B}"\r\n'
        "line noise that is not AT traffic " + "x" * 200 + "\r\n"
        "OK\r\n"
        "uart:~$ at AT%CMNG=2,1,0\r\n"
        f'%CMNG: 1,0,"{A}","-----BEGIN CERTIFICATE-----\r\nMIIBszCCAVmgAwIBAgIU\r\n-----END CERTIFICATE-----\r\n"\r\n'
        "OK\r\n"
        "uart:~$ at AT+CGSN\r\n352656100000010\r\n"
    )
    parsed = parse_capture(capture)
    [listing] = parsed.listings
    assert listing.entries == [StoredEntry(1, 0, A), StoredEntry(3, 1, B)]
    assert [u.line_no for u in parsed.unreadable] == [4, 6]
    assert parsed.unreadable[0].text == "%CMNG: 2,"
    assert len(parsed.unreadable[1].text) == REPORT_WIDTH and parsed.unreadable[1].text.endswith("...")
    assert parsed.ignored == 11  # 3 commands, 2 OK, the URC, the read answer (4 lines), the IMEI


def test_several_listings_and_filtered_listing() -> None:
    capture = (
        "[2024-03-01 10:00:00.250] AT%CMNG=1\n"
        f'[2024-03-01 10:00:00.300] %CMNG: 1,0,"{A}"\n'
        "[2024-03-01 10:00:00.310] OK\n"
        "[2024-03-02 11:00:00] AT%CMNG=1,7\n"
        f'[2024-03-02 11:00:00] %CMNG: 7,4,"{B}"\n'
        "[2024-03-02 11:00:00] OK\n"
        "[2024-03-03 12:00:00] AT%CMNG=1\n"
        "[2024-03-03 12:00:00] OK\n"
    )
    parsed = parse_capture(capture)
    assert [(len(x.entries), x.only_sec_tag) for x in parsed.listings] == [(1, None), (1, 7), (0, None)]
    assert parsed.listings[0].taken_at == datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)


def test_unanswered_command_gives_no_listing() -> None:
    assert parse_capture("AT%CMNG=1\r\n").listings == []


def test_slm_native_tls_mapping() -> None:
    capture = f'%CMNG: 420,0,"{A}"\n%CMNG: 421,0,"{B}"\n%CMNG: 4294967292,11,"{B}"\n#XCMNG: 11,3\n'
    parsed = parse_capture(capture, slm_native_tls=True)
    assert parsed.listings[0].entries == [
        StoredEntry(42, 0, A),
        StoredEntry(42, 1, B),
        StoredEntry(4294967292, 11, B),
        StoredEntry(11, 3, None),
    ]


def test_clean_line_and_times() -> None:
    assert clean_line("\x1b[31mAT%CMNX\bG=1\x1b[0m\r") == "AT%CMNG=1"
    assert parse_log_time("2022-04-26T08:57:28.575Z") == datetime(2022, 4, 26, 8, 57, 28, 575000, tzinfo=UTC)
    assert parse_log_time("2022-04-26 10:57:28,5+02:00") == datetime(2022, 4, 26, 8, 57, 28, 500000, tzinfo=UTC)


def test_import_records_fixture_then_partial_sms(inv: Inventory) -> None:
    [first] = inv.record_import("352656100000010", parse_capture(_read(LINK_MONITOR)), station="lab")
    taken = datetime(2026, 2, 1, tzinfo=UTC)
    [second] = inv.record_import("352656100000010", parse_capture(_read(SMS)), partial=True, default_time=taken)
    old, new = inv.snapshot(first), inv.snapshot(second)
    assert old.taken_at == datetime(2022, 4, 26, 8, 57, 28, 575000, tzinfo=UTC) and old.station == "lab"
    assert new.taken_at == taken and new.source == "import"
    # the SMS spoke only for tag 16842753: the other tags are carried over, its types 1 and 2 are gone
    assert len(new.entries) == 12
    diff = inv.diff("352656100000010")
    assert {(e.sec_tag, e.type) for e in diff.vanished} == {(16842753, 1), (16842753, 2)}
    assert not diff.appeared and not diff.changed


def test_import_sms_as_full_list(inv: Inventory) -> None:
    [snap] = inv.record_import("352656100000010", parse_capture(_read(SMS)), partial=False)
    assert [e.key for e in inv.snapshot(snap).entries] == [(16842753, 0)]


def test_filtered_listing_replaces_only_what_it_covers(inv: Inventory) -> None:
    full = f'AT%CMNG=1\n%CMNG: 7,0,"{A}"\n%CMNG: 7,1,"{A}"\n%CMNG: 8,0,"{A}"\nOK\n'
    inv.record_import("352656100000010", parse_capture(full), default_time=datetime(2026, 1, 1, tzinfo=UTC))
    by_type = f'AT%CMNG=1,7,1\n%CMNG: 7,1,"{B}"\nOK\n'
    [snap] = inv.record_import("352656100000010", parse_capture(by_type), default_time=datetime(2026, 1, 2, tzinfo=UTC))
    assert [(e.sec_tag, e.type, e.sha256) for e in inv.snapshot(snap).entries] == [(7, 0, A), (7, 1, B), (8, 0, A)]
    by_tag = "AT%CMNG=1,7\nOK\n"  # tag 7 is now empty
    [snap] = inv.record_import("352656100000010", parse_capture(by_tag), default_time=datetime(2026, 1, 3, tzinfo=UTC))
    assert [(e.sec_tag, e.type) for e in inv.snapshot(snap).entries] == [(8, 0)]
