"""Tier 1: the AT session against a scripted transport (framing, URCs, split reads, timeouts, dialects)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credwarden.at.response import FinalKind, LineFramer, parse_final, response_prefix
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import (
    DeviceRebooted,
    DeviceTimeout,
    InvalidContent,
    ModemError,
    NotFound,
    ProtocolError,
    TransportError,
)
from credwarden.modem.dialect import Dialect, classify_probe_answer, detect_dialect
from credwarden.modem.session import AtSession
from credwarden.transport.scripted import ScriptedTransport, answer_table

SHA = "B9BAC15641653CAE2B5151DCBD0C40DDCDF19125950FA2475977437EA35F7A45"
URCS = [
    '+CEREG: 2,"76C1","0102DA04",7',
    "%CESQ: 54,2,15,1",
    "+CSCON: 1",
    "%XPOFWARN",
    "%MDMEV: ME OVERHEATED",
    "+CGEV: ME PDN ACT 0",
]


def session(responder: dict[str, str], chunks: list[int] | None = None, dialect: str = "at_client") -> AtSession:
    transport = ScriptedTransport(answer_table(responder), chunks)
    return AtSession(transport, Dialect(dialect), timeouts=TimeoutPolicy(base=0.3, list_base=0.3))


def stateful(answers: dict[str, str], cmee: int = 0, cfun: int = 1) -> Callable[[bytes], bytes]:
    """A scripted responder that remembers `+CMEE=` / `+CFUN=` like a modem (answers to sets from `answers`)."""
    state = {"+CMEE": cmee, "+CFUN": cfun}
    table = answer_table(answers)

    def respond(data: bytes) -> bytes:
        command = data.decode("latin-1").strip()
        for name in state:
            if command == f"AT{name}?":
                return f"{name}: {state[name]}\r\nOK\r\n".encode()
            if command.startswith(f"AT{name}="):
                state[name] = int(command.split("=")[1])
        return table(data)

    return respond


def test_final_results() -> None:
    assert parse_final("OK") and parse_final("OK").kind is FinalKind.OK  # type: ignore[union-attr]
    assert parse_final("+CME ERROR: 513").code == 513  # type: ignore[union-attr]
    assert parse_final("+CMS ERROR: 301").kind is FinalKind.CMS  # type: ignore[union-attr]
    assert parse_final("ERROR").code is None  # type: ignore[union-attr]
    assert parse_final("%CMNG: 1,0") is None


def test_response_prefixes() -> None:
    assert response_prefix("AT%CMNG=1") == "%CMNG:"
    assert response_prefix("AT+CFUN?") == "+CFUN:"
    assert response_prefix("AT+CGSN") is None
    assert response_prefix("AT+CGSN=1") == "+CGSN:"
    assert response_prefix("AT+CGMR") is None


def test_bare_answer_not_taken_from_urc() -> None:
    s = session({"AT+CGSN": "+CEREG: 5\r\n352656100367872\r\n+CSCON: 0\r\nOK\r\n"})
    answer = s.command("AT+CGSN")
    assert answer.lines == ("352656100367872",)
    assert answer.urcs == ("+CEREG: 5", "+CSCON: 0")
    assert s.stats.urcs == ["+CEREG: 5", "+CSCON: 0"]


def test_cme_errors_raise_specific_exceptions() -> None:
    s = session(
        {
            "AT%CMNG=2,1,0": "+CME ERROR: 513\r\n",
            'AT%CMNG=0,1,0,"x"': "+CME ERROR: 527\r\n",
            "AT+CSMS=0": "+CMS ERROR: 302\r\n",
        }
    )
    with pytest.raises(NotFound) as info:
        s.command("AT%CMNG=2,1,0")
    assert "not found" in str(info.value) and "What to do" in str(info.value)
    with pytest.raises(InvalidContent):
        s.command('AT%CMNG=0,1,0,"x"')
    with pytest.raises(ModemError) as cms:
        s.command("AT+CSMS=0")
    assert cms.value.cms


def test_multiline_read_content_kept_whole() -> None:
    content = "-----BEGIN CERTIFICATE-----\r\nMIIB\r\nOK\r\n-----END CERTIFICATE-----\r\n"
    s = session({"AT%CMNG=2,5,0": f'%CMNG: 5,0,"{SHA}","{content}"\r\nOK\r\n'}, chunks=[3, 7, 1, 50])
    answer = s.command("AT%CMNG=2,5,0")
    assert len(answer.lines) == 1
    assert answer.lines[0].endswith(f'"{content}"')


def test_slm_framing() -> None:
    s = session({"AT+CFUN?": "\r\n+CFUN: 4\r\n\r\nOK\r\n"}, dialect="slm")
    assert s.command("AT+CFUN?").lines == ("+CFUN: 4",)


def test_shell_framing_strips_echo_prompt_and_ansi() -> None:
    prompt = "\x1b[1;32muart:~$ \x1b[m"
    answers = {"at 'AT+CGSN'": f"at 'AT+CGSN'\r\n352656100367872\r\nOK\r\n\r\n{prompt}"}
    s = session(answers, dialect="shell")
    assert s.command("AT+CGSN").lines == ("352656100367872",)
    assert s.command("AT+CGSN").lines == ("352656100367872",)


def test_shell_encoding() -> None:
    assert Dialect("shell").encode('AT%CMNG=0,1,0,"a\r\nb\'c"') == b"at 'AT%CMNG=0,1,0,\"a\\nb\\'c\"'\r\n"
    assert Dialect("at_client").encode("AT") == b"AT\r\n"


def test_stored_form_depends_on_dialect() -> None:
    pem = b"-----BEGIN X-----\nAA\n-----END X-----\n"
    assert Dialect("at_client").stored_form(pem) == pem
    assert Dialect("slm").stored_form(pem) == pem
    assert Dialect("shell").stored_form(pem) == pem.replace(b"\n", b"\r\n")
    assert Dialect("shell", unescape_lf=False).stored_form(pem) == pem


def test_timeout_resyncs_then_raises() -> None:
    s = session({"AT": "OK\r\n", "AT+SLOW": ""})
    with pytest.raises(DeviceTimeout) as info:
        s.command("AT+SLOW", timeout=0.05)
    assert "resynchronised" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert s.transport.written[-1] == b"AT+CMEE?\r\n"  # type: ignore[attr-defined]  # the tagged probe
    assert s.command("AT").ok


def test_timeout_on_dead_device_says_so() -> None:
    s = session({})
    s.transport.responder = lambda data: b""  # type: ignore[attr-defined]
    with pytest.raises(DeviceTimeout, match="does not answer"):
        s.command("AT+CGSN", timeout=0.05)


def test_ready_banner_mid_session_is_a_reboot() -> None:
    s = session({"AT": "OK\r\n", "AT+CGMR": "\r\nReady\r\n"}, dialect="slm")
    assert s.command("AT").ok
    with pytest.raises(DeviceRebooted):
        s.command("AT+CGMR")
    assert s.reboot_pending


def test_ready_banner_before_first_command_is_fine() -> None:
    s = session({"AT": "\r\nOK\r\n"}, dialect="slm")
    s.transport.push(b"Ready\r\n")  # type: ignore[attr-defined]
    assert s.command("AT").ok


def test_stale_answer_is_not_taken() -> None:
    s = session({"AT+CGMM": "nRF9160-SICA\r\nOK\r\n"})
    s.transport.push(b"OK\r\n+CEREG: 1\r\n")  # type: ignore[attr-defined]
    assert s.command("AT+CGMM").lines == ("nRF9160-SICA",)


def test_command_with_newline_outside_quotes_refused() -> None:
    with pytest.raises(ProtocolError):
        session({}).send("AT\r\nAT+CFUN=1")


@settings(max_examples=80, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 11)), max_size=8),
    urc_slots=st.lists(st.tuples(st.integers(0, 8), st.sampled_from(URCS)), max_size=6),
    chunks=st.lists(st.integers(1, 64), min_size=1, max_size=40),
    framing=st.sampled_from(["at_client", "slm"]),
)
def test_urc_interleavings_and_split_reads(
    entries: list[tuple[int, int]], urc_slots: list[tuple[int, str]], chunks: list[int], framing: str
) -> None:
    info = [f'%CMNG: {tag},{kind},"{SHA}"' for tag, kind in entries]
    stream: list[str] = list(info)
    inserted: list[str] = []
    for slot, urc in sorted(urc_slots, key=lambda item: item[0]):
        position = min(slot + len(inserted), len(stream))  # between info lines or before the final
        stream.insert(position, urc)
        inserted.append(urc)
    expected_urcs = [line for line in stream if not line.startswith("%CMNG")]
    if framing == "slm":
        answer = "".join(f"\r\n{line}\r\n" for line in stream) + "\r\nOK\r\n"
    else:
        answer = "".join(f"{line}\r\n" for line in stream) + "OK\r\n"
    s = session({"AT%CMNG=1": answer}, chunks=chunks, dialect=framing)
    response = s.command("AT%CMNG=1")
    assert list(response.lines) == info
    assert list(response.urcs) == expected_urcs


@given(st.text(alphabet='AB\r\n"%CMNG: 0,', max_size=80), st.lists(st.integers(1, 9), min_size=1, max_size=20))
def test_framer_is_chunking_independent(text: str, cuts: list[int]) -> None:
    whole = LineFramer().feed(text)
    framer, out, pos = LineFramer(), [], 0
    for cut in cuts:
        out += framer.feed(text[pos : pos + cut])
        pos += cut
    out += framer.feed(text[pos:])
    assert out == whole


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"+CMEE: 0\r\nOK\r\n", ("at_client", 0, True)),
        (b"+CEREG: 1\r\n+CMEE: 1\r\nOK\r\n", ("at_client", 1, True)),
        (b"+CMEE: 0\r\n", ("at_client", 0, False)),  # the final result was lost: the info line decides
        (b"OK\r\n", ("at_client", None, True)),
        (b"\r\n+CMEE: 0\r\n\r\nOK\r\n", ("slm", 0, True)),
        (b"\r\n+CMEE: 0\r\n", ("slm", 0, False)),
        (b"Ready\r\n\r\n+CMEE: 0\r\n\r\nOK\r\n", ("slm", 0, True)),
        (b"AT+CMEE?\r\nAT+CMEE?: command not found\r\n\r\n\x1b[1;32muart:~$ \x1b[m", ("shell", None, True)),
        (b"\r\n", None),
        (b"OK", None),
    ],
)
def test_probe_classification(answer: bytes, expected: tuple[str, int | None, bool] | None) -> None:
    decided = classify_probe_answer(answer)
    assert (None if decided is None else (decided.dialect, decided.cmee, decided.complete)) == expected


def test_detect_dialect_and_silent_device() -> None:
    transport = ScriptedTransport(answer_table({"AT+CMEE?": "\r\n+CMEE: 0\r\n\r\nOK\r\n"}), chunks=[1])
    assert detect_dialect(transport, timeout=1.0) == "slm"
    silent = ScriptedTransport(lambda data: b"")
    with pytest.raises(DeviceTimeout, match="no answer to AT"):
        detect_dialect(silent, timeout=0.05)
    garbage = ScriptedTransport(lambda data: b"\xff\xfe\x00garbage\r\n")
    with pytest.raises(TransportError, match="baud rate"):
        detect_dialect(garbage, timeout=0.05)
    echo = ScriptedTransport(lambda data: data)
    with pytest.raises(TransportError, match="loopback") as caught:
        detect_dialect(echo, timeout=0.05)
    assert caught.value.exit_code == 3 and "AT+CMEE?" in str(caught.value)


def test_delete_all_continues_past_refusal() -> None:
    from credwarden.modem.device import Device

    answers = {
        "AT+CMEE=1": "OK\r\n",
        "AT+CFUN=4": "OK\r\n",
        "AT+CFUN=1": "OK\r\n",
        "AT%CMNG=1": '%CMNG: 1,0,"AA"\r\n%CMNG: 2,2,"BB"\r\n%CMNG: 3,1,"CC"\r\n%CMNG: 4294967294,6,"DD"\r\nOK\r\n',
        "AT%CMNG=3,1,0": "OK\r\n",
        "AT%CMNG=3,2,2": "+CME ERROR: 514\r\n",
        "AT%CMNG=3,3,1": "OK\r\n",
        "AT+CMEE=0": "OK\r\n",
    }
    transport = ScriptedTransport(stateful(answers))
    device = Device.over(transport, mode="at_client")
    outcomes = device.delete_all()
    device.close()
    assert [(o.sec_tag, o.deleted, o.code) for o in outcomes] == [(1, True, None), (2, False, 514), (3, True, None)]
    sent = [w.decode().strip() for w in transport.written]
    assert "AT%CMNG=3,4294967294,6" not in sent
    # teardown: one check for a silent reboot, the found mode back, numeric errors as found; nothing read twice
    assert sent.count("AT+CFUN=4") == 1 and sent[-3:] == ["AT+CMEE?", "AT+CFUN=1", "AT+CMEE=0"]


def test_lost_answer_to_going_offline_is_settled_by_reading_the_mode() -> None:
    from credwarden.modem.device import Device

    answers = {
        "AT": "OK\r\n",
        "AT+CFUN=4": "",  # executed, but the final result is lost
        "AT+CFUN=1": "OK\r\n",
        "AT%CMNG=3,1,0": "OK\r\n",
    }
    transport = ScriptedTransport(stateful(answers, cmee=1))
    device = Device.over(transport, mode="at_client")
    device.session.timeouts = TimeoutPolicy(base=0.2, cfun_set=0.2)
    device.delete(1, 0)
    sent = [w.decode().strip() for w in transport.written]
    assert sent.count("AT+CFUN=4") == 1  # the mode read back as 4: not sent again
    assert sent.index("AT+CFUN?", sent.index("AT+CFUN=4")) < sent.index("AT%CMNG=3,1,0")
    assert sent.index("AT+CFUN=1") > sent.index("AT%CMNG=3,1,0")


@pytest.mark.parametrize(
    ("command", "readonly"),
    [
        ("AT", True),
        ("AT+CMEE?", True),
        ("AT+CFUN=?", True),
        ("AT%CMNG=1", True),
        ("AT%CMNG=1,42,0", True),
        ("AT%CMNG=2,42,0", True),
        ("AT#XCMNG=1", True),
        ("AT+CGSN", True),
        ("AT+CGSN=1", True),
        ("AT%XMODEMUUID", True),
        ("AT%CERTEXPIRY=42,0", True),
        ('AT%CMNG=0,42,0,"x"', False),
        ("AT%CMNG=3,42,0", False),
        ("AT%CMNG=10", False),
        ("AT+CFUN=4", False),
        ("AT+CMEE=1", False),
        ("AT%KEYGEN=42,2,0", False),
        ("AT#XRESET", False),
        ("AT+CGMR=1", False),
    ],
)
def test_only_read_only_commands_are_sent_again_after_a_lost_answer(command: str, readonly: bool) -> None:
    from credwarden.at.response import is_idempotent

    assert is_idempotent(command) is readonly


def test_one_classifier_for_every_reader() -> None:
    from credwarden.modem.session import LineKind

    s = session({}, dialect="at_client")
    kinds = {
        "": LineKind.BLANK,
        "AT+CGSN": LineKind.ECHO,
        "Ready": LineKind.BANNER,
        "+CME ERROR: 513": LineKind.FINAL,
        "AT+CGSN: command not found": LineKind.FOREIGN,
        "+CEREG: 1": LineKind.URC,
        "352656100367872": LineKind.INFO,
    }
    assert {text: s.classify(text, "AT+CGSN", None).kind for text in kinds} == kinds
    shell = session({}, dialect="shell")
    failure = shell.classify("Sending AT command failed with error code -7", "AT%CMNG=1", "%CMNG:")
    assert failure.kind is LineKind.FAILURE and shell.dialect.answer_too_large(failure.text)
