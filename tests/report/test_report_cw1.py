"""CW/1 parsing: the issue's example, line endings, limits, blocks, incomplete lists and clear rejections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from credwarden.report import (
    MAX_REPORT_BYTES,
    ReportRejected,
    build_cw1,
    certexpiry_block,
    firmware_block,
    list_block,
    parse_cw1,
    parse_report,
)
from credwarden.report.model import Block

IMEI = "352656100367872"
SHA_A = "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"
SHA_B = "FF963481891DD379EB3F341AA1A440A0A888300FC62FF85E87B41D87B766DDFE"
EXAMPLE = f"""CW/1 imei={IMEI} seq=17 up=86400 app=1.4.0 tls=1000:-95
AT+CGMR
mfw_nrf9160_1.3.5
OK
AT%CMNG=1
%CMNG: 1000,0,"{SHA_A}"
%CMNG: 4294967293,10,"{SHA_B}"
OK
"""


def rejected(payload: str | bytes) -> ReportRejected:
    with pytest.raises(ReportRejected) as info:
        parse_report(payload)
    return info.value


def test_issue_example() -> None:
    report = parse_cw1(EXAMPLE)
    assert (report.imei, report.seq, report.uptime_s, report.app_version) == (IMEI, 17, 86400, "1.4.0")
    assert report.firmware == "mfw_nrf9160_1.3.5"
    assert report.tls_text == "1000:-95"
    assert report.list_status == "complete"
    assert report.listing is not None
    assert [(e.sec_tag, e.type, e.sha256) for e in report.listing.entries] == [
        (1000, 0, SHA_A),
        (4294967293, 10, SHA_B),
    ]
    assert report.form == "cw1" and report.size == len(EXAMPLE)


def test_crlf_and_lf_give_the_same_report() -> None:
    lf = parse_cw1(EXAMPLE)
    crlf = parse_cw1(EXAMPLE.replace("\n", "\r\n").encode())
    assert lf.listing == crlf.listing and lf.firmware == crlf.firmware and lf.tls_failures == crlf.tls_failures


def test_unknown_header_keys_are_kept() -> None:
    report = parse_cw1(EXAMPLE.replace("app=1.4.0", "app=1.4.0 board=v3 rsrp=-101"))
    assert report.extra == (("board", "v3"), ("rsrp", "-101"))
    assert report.extra_text == "board=v3 rsrp=-101"


@pytest.mark.parametrize(
    "final,error",
    [("ERROR -7", "-7"), ("+CME ERROR: 513", "CME 513"), ("ERROR", "ERROR"), ("+CMS ERROR: 302", "CMS 302")],
)
def test_list_ending_in_an_error_is_incomplete(final: str, error: str) -> None:
    text = build_cw1(IMEI, 3, blocks=[list_block([(1000, 0, SHA_A)], final=final)])
    report = parse_cw1(text)
    assert report.listing is not None
    assert report.list_status == "incomplete" and report.listing.error == error


def test_e2big_list_cut_mid_line_is_incomplete_not_refused() -> None:
    cut = f'%CMNG: 1000,0,"{SHA_A}"\r\n%CMNG: 4294967293,10,"FF9634'
    text = f"CW/1 imei={IMEI} seq=4\r\nAT%CMNG=1\r\n{cut}\r\nERROR -7\r\n"
    report = parse_cw1(text)
    assert report.listing is not None and report.list_status == "incomplete" and report.listing.error == "-7"
    assert [e.sec_tag for e in report.listing.entries] == [1000]
    assert report.notes  # the cut line is noted, not silently dropped


def test_payload_ending_inside_the_list_is_truncated() -> None:
    text = f'CW/1 imei={IMEI} seq=4\nAT%CMNG=1\n%CMNG: 1000,0,"{SHA_A}"\n'
    report = parse_cw1(text)
    assert report.list_status == "incomplete" and report.listing is not None and report.listing.error == "truncated"


def test_no_list_is_absent() -> None:
    report = parse_cw1(build_cw1(IMEI, 1, up=5, blocks=[firmware_block("mfw_nrf91x1_2.0.2")]))
    assert report.list_status == "absent" and report.listing is None and report.firmware == "mfw_nrf91x1_2.0.2"


def test_filtered_lists_cover_their_tags_only() -> None:
    text = build_cw1(
        IMEI,
        9,
        blocks=[list_block([(42, 0, SHA_A)], sec_tag=42), list_block([(43, 3, SHA_B)], sec_tag=43, type_code=3)],
    )
    listing = parse_cw1(text).listing
    assert listing is not None and listing.status == "complete"
    assert listing.covers(42, 1) and listing.covers(43, 3) and not listing.covers(43, 4) and not listing.covers(7, 0)


def test_full_list_wins_over_filtered() -> None:
    text = build_cw1(IMEI, 9, blocks=[list_block([(42, 0, SHA_A)], sec_tag=42), list_block([(1, 0, SHA_B)])])
    listing = parse_cw1(text).listing
    assert listing is not None and listing.coverage is None and [e.sec_tag for e in listing.entries] == [1]


def test_certexpiry_and_other_commands() -> None:
    nb, na = datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 6, 30, 12, tzinfo=UTC)
    blocks = [
        Block("AT+CEREG?", ("+CEREG: 0,1",), "OK"),
        certexpiry_block(1000, 0, "00AEF876", nb, na),
        Block("AT%CERTEXPIRY=1000,1", (), "+CME ERROR: 513"),
        list_block([(1000, 0, SHA_A)]),
    ]
    report = parse_cw1(build_cw1(IMEI, 2, blocks=blocks))
    assert report.expiries() == {(1000, 0): na}
    assert report.blocks[0].command == "AT+CEREG?"


def test_cgsn_answer_must_match_header() -> None:
    ok = build_cw1(IMEI, 2, blocks=[Block("AT+CGSN", (IMEI,), "OK")])
    assert parse_cw1(ok).imei == IMEI
    other = "352656100367880"
    error = rejected(build_cw1(IMEI, 2, blocks=[Block("AT+CGSN", (other,), "OK")]))
    assert error.code == "imei-mismatch" and other in str(error)


def test_size_limit() -> None:
    padding = "AT+X\r\n" + "x" * 100 + "\r\nOK\r\n"
    head = build_cw1(IMEI, 1)
    text = head + padding * ((MAX_REPORT_BYTES - len(head)) // len(padding))
    assert MAX_REPORT_BYTES - len(padding) < len(text) <= MAX_REPORT_BYTES
    parse_cw1(text)
    big = text + padding * 3
    error = rejected(big.encode())
    assert error.code == "oversized" and str(MAX_REPORT_BYTES) in str(error)


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "empty"),
        ("hello world", "starts with 'CW/1'"),
        ("CW/2 imei=352656100367872 seq=1", "unsupported report version"),
        ("CW/1 seq=1", "imei= is missing"),
        ("CW/1 imei=352656100367872", "seq= is missing"),
        ("CW/1 imei=352656100367873 seq=1", "wrong check digit"),
        ("CW/1 imei=35265610036787 seq=1", "14 digits"),
        ("CW/1 imei=35265610036787x seq=1", "not all digits"),
        ("CW/1 imei=352656100367872 seq=-1", "seq="),
        ("CW/1 imei=352656100367872 seq=99999999999999999999", "seq="),
        ("CW/1 imei=352656100367872 seq=1 up=1h", "up="),
        ("CW/1 imei=352656100367872 seq=1 tls=1000", "tls="),
        ("CW/1 imei=352656100367872 seq=1 tls=4294967296:-95", "tls="),
        ("CW/1 imei=352656100367872 seq=1 seq=2", "appears twice"),
        ("CW/1 imei=352656100367872 seq=1 Bad", "not a key=value"),
        ("CW/1 imei=352656100367872 seq=1\nmfw_nrf9160_1.3.5\nOK", "line 2: expected an AT command"),
        ('CW/1 imei=352656100367872 seq=1\nAT%CMNG=1\n%CMNG: 1,0,"XYZ"\nOK', "line 3"),
        ("CW/1 imei=352656100367872 seq=1\nAT%CMNG=1\nhello\nOK", "not a %CMNG list line"),
        (f'CW/1 imei=352656100367872 seq=1\nAT%CMNG=1\n%CMNG: 1,0,"{SHA_A}"\n%CMNG: 1,0,"{SHA_B}"\nOK', "twice"),
        ("CW/1 imei=352656100367872 seq=1\nAT\x00\nOK", "control character"),
    ],
)
def test_rejections_say_why(text: str, words: str) -> None:
    error = rejected(text)
    assert error.code == "unparsable"
    assert words in str(error), str(error)


def test_non_ascii_is_refused_with_its_offset() -> None:
    error = rejected(EXAMPLE.encode().replace(b"1.4.0", b"1.4.\xe9"))
    assert error.code == "unparsable" and "offset" in str(error)


def test_rejection_message_never_echoes_long_input() -> None:
    error = rejected("CW/1 imei=352656100367872 seq=1\n" + "Z" * 5000)
    assert len(str(error)) < 200


def test_json_envelopes() -> None:
    import json

    from credwarden.report.envelope import unwrap_json

    single = unwrap_json(json.dumps({"appId": "CREDWARDEN", "messageType": "DATA", "data": EXAMPLE}))
    assert [e.payload for e in single.envelopes] == [EXAMPLE] and single.skipped == 0
    batch = {
        "type": "device_messages",
        "messages": [
            {"deviceId": f"nrf-{IMEI}", "topic": "t", "message": {"appId": "CREDWARDEN", "data": EXAMPLE}},
            {"deviceId": "x", "message": {"appId": "TEMP", "messageType": "DATA", "data": "21.5"}},
            "junk",
        ],
    }
    routed = unwrap_json(json.dumps(batch).encode())
    assert len(routed.envelopes) == 1 and routed.skipped == 2
    assert routed.envelopes[0].imei_hint == IMEI and routed.envelopes[0].topic == "t"
    assert unwrap_json('{"type": "system.verification", "messages": [{"verificationToken": "1"}]}').envelopes == ()
    for bad in ("[1]", "{", '{"appId": "TEMP", "data": "21.5"}'):
        with pytest.raises(ReportRejected) as info:
            unwrap_json(bad)
        assert info.value.code == "unparsable"
