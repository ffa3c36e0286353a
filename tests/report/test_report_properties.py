"""Property tests of the report codec: round trips, arbitrary input, and cut payloads never read as complete."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from credwarden.report import (
    FieldReport,
    ReportRejected,
    build_cw1,
    build_sms,
    firmware_block,
    list_block,
    parse_report,
)
from credwarden.report.imei import luhn_check_digit
from credwarden.types import MAX_SEC_TAG

imeis = st.from_regex(r"\A[0-9]{14}\Z").map(lambda body: body + luhn_check_digit(body))
digests = st.one_of(st.none(), st.from_regex(r"\A[0-9A-F]{64}\Z"))
entries = st.dictionaries(st.tuples(st.integers(0, MAX_SEC_TAG), st.integers(0, 255)), digests, max_size=20).map(
    lambda d: sorted((t, c, s) for (t, c), s in d.items())
)
tokens = st.from_regex(r"\A[A-Za-z0-9._+-]{1,20}\Z")
tls = st.lists(st.tuples(st.integers(0, MAX_SEC_TAG), st.integers(-999, 999)), max_size=4)
counters = st.integers(0, 2**63 - 1)


def parse_or_reject(payload: str | bytes) -> FieldReport | None:
    try:
        return parse_report(payload)
    except ReportRejected as exc:
        assert exc.code in ("oversized", "unparsable", "imei-mismatch") and str(exc)
        return None


@given(imeis, counters, st.none() | counters, st.none() | tokens, tls, entries, tokens, st.sampled_from(["\n", "\r\n"]))
def test_cw1_round_trip(
    imei: str, seq: int, up: int | None, app: str | None, failures: Any, listed: Any, firmware: str, newline: str
) -> None:
    text = build_cw1(
        imei, seq, up=up, app=app, tls=failures, blocks=[firmware_block(firmware), list_block(listed)], newline=newline
    )
    report = parse_report(text)
    assert (report.imei, report.seq, report.uptime_s, report.app_version) == (imei, seq, up, app)
    assert report.firmware == firmware
    assert [(f.sec_tag, f.error) for f in report.tls_failures] == failures
    assert report.listing is not None and report.list_status == "complete"
    assert [(e.sec_tag, e.type, e.sha256) for e in report.listing.entries] == listed


@settings(max_examples=200)
@given(st.binary(max_size=600) | st.text(max_size=600))
def test_arbitrary_input_is_parsed_or_rejected_never_crashes(payload: bytes | str) -> None:
    parse_or_reject(payload)


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from(list('CWS/1 imeqs=0123456789:.,!ATR%MNGOK\r\n"+-_hnAB')), max_size=300))
def test_near_miss_text_is_parsed_or_rejected(payload: str) -> None:
    parse_or_reject("CW/1 imei=352656100367872 seq=1\n" + payload)
    parse_or_reject("CWS/1 i=352656100367872 s=1 " + payload)


@given(imeis, counters, entries.filter(bool), st.data())
def test_cut_cw1_never_reads_as_a_different_complete_list(imei: str, seq: int, listed: Any, data: Any) -> None:
    text = build_cw1(imei, seq, blocks=[list_block(listed)])
    cut = data.draw(st.integers(1, len(text) - 1))
    report = parse_or_reject(text[:cut])
    if report is not None and report.listing is not None and report.listing.status == "complete":
        assert [(e.sec_tag, e.type, e.sha256) for e in report.listing.entries] == listed


@given(imeis, st.integers(0, 10**9), entries.filter(bool), st.data())
def test_cut_sms_is_never_complete(imei: str, seq: int, listed: Any, data: Any) -> None:
    line = build_sms(imei, seq, listed)
    cut = data.draw(st.integers(1, len(line) - 1))
    report = parse_or_reject(line[:cut])
    assert report is None or report.listing is None or report.listing.status == "incomplete"


@given(imeis, st.integers(0, 10**9), entries)
def test_sms_round_trip(imei: str, seq: int, listed: Any) -> None:
    report = parse_report(build_sms(imei, seq, listed))
    assert report.listing is not None and report.listing.status == "complete"
    assert [(e.sec_tag, e.type) for e in report.listing.entries] == [(t, c) for t, c, _ in listed]
