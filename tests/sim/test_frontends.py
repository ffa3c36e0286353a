"""Shell and SLM front-ends and at_client line handling, through a real pty."""

from __future__ import annotations

import hashlib
import re

from tests.conftest import MakeSim
from tests.sim.rawclient import FINAL, RawPort

from credwarden.sim.frontends import shell_argv

PROMPT = b"\x1b[1;32muart:~$ \x1b[m"
PEM_LF = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_at_client_quotes_backspace_blank_lines_and_lf_of_crlf(make_sim: MakeSim) -> None:
    sim = make_sim()
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command("AT+CGMX\x08M", terminator=b"\r\n") == b"nRF9160-SICA\r\nOK\r\n"
        port.write(b"\r\n\r\n \r")
        assert port.collect(0.1) == b""  # lines with nothing printable are dropped silently
        content = "a\rb\r\nc"
        assert port.command(f'AT%CMNG=0,9,4,"{content}"') == b"OK\r\n"  # CR inside quotes does not terminate
        assert sim.store.get(9, 4).content == content.encode()


def test_at_client_overflow_truncates_and_still_runs(make_sim: MakeSim) -> None:
    sim = make_sim(at_buffer=64)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        head = 'AT%CMNG=0,1,4,"'
        answer = port.command(head + "x" * 100 + '"')
        # 63 bytes kept: the closing quote was dropped, so the truncated command is malformed → 50
        assert answer == b"+CME ERROR: 50\r\n"
        assert sim.store.get(1, 4) is None


def test_at_client_lf_termination(make_sim: MakeSim) -> None:
    sim = make_sim(termination="lf")
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command("AT", terminator=b"\n") == b"OK\r\n"


def test_shell_echo_prompt_and_unescape(make_sim: MakeSim) -> None:
    sim = make_sim(frontend="shell")
    with sim.serve_pty() as path, RawPort(path) as port:
        sim.restart()  # boot banner now that a client listens
        assert port.read_until(PROMPT) == b"*** Booting nRF Connect SDK ***\r\n" + PROMPT
        port.write(b"at AT+CGMM\r")
        assert port.read_until(PROMPT) == b"at AT+CGMM\r\nnRF9160-SICA\r\nOK\r\n\r\n" + PROMPT
        escaped = PEM_LF.replace("\n", "\\n")
        line = f"at 'AT%CMNG=0,77,0,\"{escaped}\"'"
        port.write(line.encode() + b"\r\n")
        out = port.read_until(PROMPT)
        assert out.endswith(b"OK\r\n\r\n" + PROMPT)
        stored = PEM_LF.replace("\n", "\r\n").encode()
        assert sim.store.get(77, 0).content == stored  # the shell turns \n into CR LF for %CMNG=0
        port.write(b"foo bar\r")
        assert port.read_until(PROMPT).endswith(b"foo: command not found\r\n" + PROMPT)
        port.write(b"at 'AT%CMNG=1,77'\r")
        digest = hashlib.sha256(stored).hexdigest().upper().encode()
        assert port.read_until(PROMPT).endswith(b'%CMNG: 77,0,"' + digest + b'"\r\nOK\r\n\r\n' + PROMPT)


def test_shell_response_limit(make_sim: MakeSim) -> None:
    sim = make_sim(frontend="shell", shell_response_max=120, shell_color=False)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.write(b"at AT%CMNG=1\r")
        assert port.read_until(b"uart:~$ ").endswith(b"Sending AT command failed with error code -7\r\nuart:~$ ")


def test_shell_argv_rules() -> None:
    assert shell_argv("at AT+CGSN") == ["at", "AT+CGSN"]
    assert shell_argv('at \'a b\' "c\\"d" e\\ f') == ["at", "a b", 'c"d', "e f"]
    assert shell_argv("at 'x\\n'") == ["at", "x\\n"]


def test_slm_banner_framing_echo_and_reset(make_sim: MakeSim) -> None:
    sim = make_sim(frontend="slm")
    with sim.serve_pty() as path, RawPort(path) as port:
        sim.restart()
        assert port.read_until(b"Ready\r\n") == b"Ready\r\n"
        assert port.command("AT+CGMM", terminator=b"\r\n") == b"\r\nnRF9160-SICA\r\n\r\nOK\r\n"
        assert port.command("xyzAT", terminator=b"\r\n") == b"\r\nOK\r\n"  # garbage before AT skipped
        assert port.command("AT+NOPE", terminator=b"\r\n") == b"\r\nERROR\r\n"
        assert port.command("ATE1", terminator=b"\r\n") == b"\r\nOK\r\n"
        assert port.command("AT", terminator=b"\r\n") == b"AT\r\n\r\nOK\r\n"
        port.write(b"AT#XRESET\r\n")
        assert port.read_until(b"Ready\r\n") == b"AT#XRESET\r\n\r\nOK\r\nReady\r\n"
        assert port.command("AT", terminator=b"\r\n") == b"\r\nOK\r\n"  # echo back to default (off)


def test_slm_xcmng_maps_to_modem_tags(make_sim: MakeSim) -> None:
    sim = make_sim(frontend="slm")
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command('AT#XCMNG=0,12,4,"ident"', terminator=b"\r\n") == b"\r\nOK\r\n"
        assert sim.store.get(124, 0).content == b"ident"
        assert port.command("AT#XCMNG=2,12,4", terminator=b"\r\n") == b'\r\n%CMNG: 12,4,"","ident"\r\n\r\nOK\r\n'
        assert port.command("AT#XCMNG=2,12,2", terminator=b"\r\n") == b"\r\nERROR\r\n"
        assert port.command("AT#XCMNG=1", terminator=b"\r\n") == b"\r\nERROR\r\n"
        assert port.command("AT#XCMNG=3,12,4", terminator=b"\r\n") == b"\r\nOK\r\n"
        assert sim.store.get(124, 0) is None
        assert port.command("AT#XCMNG=3,12,4", terminator=b"\r\n") == b"\r\nERROR\r\n"


def test_final_pattern_helper() -> None:
    assert FINAL.search(b"x\r\n+CME ERROR: 513\r\n")
    assert not FINAL.search(b'%CMNG: 1,0,"OK\r\n')
    assert re.fullmatch(rb"\d{15}", b"352656100367872")
