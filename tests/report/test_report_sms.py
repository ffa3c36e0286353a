"""CWS/1, the one-line SMS form: size budget, truncation, hash verification against known digests."""

from __future__ import annotations

import hashlib

import pytest

from credwarden.report import ReportRejected, build_sms, parse_report, parse_sms
from credwarden.report.sms import digest_prefix, list_hash, resolve_digests, sms_parts

IMEI = "352656100367872"


def sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest().upper()


TYPICAL = [
    (42, 0, sha(1)),
    (42, 1, sha(2)),
    (42, 2, sha(3)),
    (43, 3, sha(4)),
    (43, 4, sha(5)),
    (16842753, 0, sha(6)),
    (16842753, 1, sha(7)),
    (16842753, 2, sha(8)),
    (4294967292, 11, sha(9)),
    (4294967293, 10, sha(10)),
    (4294967294, 6, sha(11)),
    (1000, 0, sha(12)),
]


def test_round_trip_and_fields() -> None:
    line = build_sms(IMEI, 17, TYPICAL, up=86400, app="1.4.0", fw="1.3.5", tls=[(42, -95)])
    report = parse_report(line)
    assert report.form == "sms" and report.imei == IMEI and report.seq == 17 and report.uptime_s == 86400
    assert report.app_version == "1.4.0" and report.firmware == "1.3.5" and report.tls_text == "42:-95"
    assert report.listing is not None and report.list_status == "complete"
    assert [(e.sec_tag, e.type, e.sha256_prefix) for e in report.listing.entries] == [
        (t, c, digest_prefix(s)) for t, c, s in sorted(TYPICAL)
    ]
    assert all(e.sha256 is None for e in report.listing.entries)
    assert report.listing.list_hash == list_hash(TYPICAL)


def test_twelve_entries_fit_two_sms_parts_even_on_twelve_long_tags() -> None:
    typical = build_sms(IMEI, 999_999_999, TYPICAL, up=999_999_999, app="1.4.0", fw="1.3.5")
    assert sms_parts(typical) <= 2, len(typical)
    worst = [(4_000_000_000 + i, i % 10, sha(i)) for i in range(12)]
    line = build_sms(IMEI, 999_999_999, worst, up=999_999_999)
    assert len(line) <= 306 and sms_parts(line) == 2, len(line)


def test_cut_message_is_incomplete() -> None:
    line = build_sms(IMEI, 5, TYPICAL, up=100)
    first_part = line[:153]
    report = parse_sms(first_part)
    assert report.listing is not None and report.list_status == "incomplete" and report.listing.error == "truncated"
    assert len(report.listing.entries) < len(TYPICAL)
    # cut exactly at a token boundary: fewer entries than n
    tokens = line.split(" ")
    report = parse_sms(" ".join(tokens[:-1]))
    assert report.list_status == "incomplete"


def test_error_field_makes_the_list_incomplete() -> None:
    report = parse_sms(build_sms(IMEI, 5, TYPICAL[:3], error="CME513"))
    assert report.listing is not None and report.list_status == "incomplete" and report.listing.error == "CME 513"
    report = parse_sms(build_sms(IMEI, 5, [], error="-7"))
    assert report.listing is not None and report.listing.error == "-7"


def test_no_list_is_absent_and_unknown_keys_kept() -> None:
    report = parse_sms(build_sms(IMEI, 5, None) + " zz=1")
    assert report.list_status == "absent" and report.extra == (("zz", "1"),)


def test_resolve_digests_verifies_an_unchanged_list() -> None:
    report = parse_sms(build_sms(IMEI, 5, TYPICAL))
    assert report.listing is not None
    known = {(t, c): s for t, c, s in TYPICAL}
    listing, verified = resolve_digests(report.listing, known)
    assert verified and [e.sha256 for e in listing.entries] == [s for _, _, s in sorted(TYPICAL)]


def test_resolve_digests_spots_a_changed_entry() -> None:
    changed = [*TYPICAL[:-1], (1000, 0, sha(99))]
    report = parse_sms(build_sms(IMEI, 5, changed))
    assert report.listing is not None
    listing, verified = resolve_digests(report.listing, {(t, c): s for t, c, s in TYPICAL})
    assert not verified
    entry = next(e for e in listing.entries if e.key == (1000, 0))
    assert entry.sha256 is None and entry.sha256_prefix == digest_prefix(sha(99))


def test_resolve_digests_with_a_vanished_entry_is_verified_by_the_hash() -> None:
    fewer = TYPICAL[1:]
    report = parse_sms(build_sms(IMEI, 5, fewer))
    assert report.listing is not None
    _, verified = resolve_digests(report.listing, {(t, c): s for t, c, s in TYPICAL})
    assert verified


def test_entries_without_digest() -> None:
    report = parse_sms(build_sms(IMEI, 5, [(7, 0, None), (7, 1, sha(1))]))
    assert report.listing is not None
    assert [(e.type, e.sha256_prefix) for e in report.listing.entries] == [(0, None), (1, digest_prefix(sha(1)))]


@pytest.mark.parametrize(
    "line,words",
    [
        ("CWS/1 s=1", "i= is missing"),
        ("CWS/1 i=352656100367872 s=1 1:0AAAAAA", "no n="),
        ("CWS/1 i=352656100367872 s=1 n=1 1:0AAAAAA h=AAAA!", "h= must be"),
        ("CWS/1 i=352656100367872 s=1 n=1 h=AAAAAAAAAA 1:0AAAAAA", "last token"),
        ("CWS/1 i=352656100367872 s=1 n=1 1:0AAAAAA 2:0AAAAAA h=AAAAAAAAAA", "2 entries but n=1"),
        ("CWS/1 i=352656100367872 s=1 n=3 1:0AA 2:0AAAAAA h=AAAAAAAAAA", "is not <sec_tag>"),
        ("CWS/1 i=352656100367872 s=1 e=oops", "not an error code"),
        ("CWS/1 i=352656100367872 s=1\nAT", "one line"),
        ("CWS/1 i=352656100367872 s=1 n=2 1:0AAAAAA.0AAAAAA h=AAAAAAAAAA", "listed twice"),
    ],
)
def test_rejections(line: str, words: str) -> None:
    with pytest.raises(ReportRejected) as info:
        parse_report(line)
    assert info.value.code == "unparsable" and words in str(info.value), str(info.value)
