"""Faults (modem-behaviour.md#field-reports), persistence across restarts, accounting log and redaction (real pty)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import MakeSim
from tests.sim.rawclient import RawPort

from credwarden.sim import SimConfig, SimModem

SECRET = "00112233445566778899AABBCCDDEEFF"


def test_state_persists_across_restart_and_new_process(tmp_path: Path, make_sim: MakeSim) -> None:
    state = tmp_path / "nvm.json"
    sim = make_sim(state_file=state)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        port.command("AT+CFUN=1")
        assert port.command('AT%CMNG=0,8,4,"ident"') == b"+CME ERROR: 518\r\n"
        port.command("AT+CFUN=4")
        assert port.command('AT%CMNG=0,8,4,"ident"') == b"OK\r\n"
        assert port.command(f'AT%CMNG=0,8,3,"{SECRET}"') == b"OK\r\n"
        port.command("AT+CFUN=1")
        sim.restart()
        assert port.command("AT+CFUN?") == b"+CFUN: 4\r\nOK\r\n"  # RAM reset
        assert port.command("AT%CMNG=2,8,9") == b"ERROR\r\n"  # CMEE back to 0
        assert port.command("AT%CMNG=2,8,4").endswith(b',"ident"\r\nOK\r\n')
    assert SECRET not in state.read_text()  # secrets are never written to the state file
    again = SimModem(SimConfig(state_file=state, fast=True))
    try:
        assert again.store.get(8, 4) is not None and again.store.writes_of(8, 4) == 1
        assert again.store.get(8, 3).sha == hashlib.sha256(SECRET.encode()).hexdigest().upper()
    finally:
        again.stop()


def test_power_cut_persists_truncated_entry_then_silence(tmp_path: Path, make_sim: MakeSim) -> None:
    state = tmp_path / "nvm.json"
    sim = make_sim(state_file=state)
    sim.faults.power_cut_after = 4
    with sim.serve_pty() as path, RawPort(path) as port:
        port.write(b'AT%CMNG=0,11,0,"abcdefgh"\r')
        assert port.collect(0.2) == b""
        assert port.command("AT", timeout=0.2) == b""  # dead until restart
        sim.restart()
        expected = hashlib.sha256(b"abcd").hexdigest().upper().encode()
        assert port.command("AT%CMNG=1,11") == b'%CMNG: 11,0,"' + expected + b'"\r\nOK\r\n'
    assert SimModem(SimConfig(state_file=state, fast=True)).store.get(11, 0).content == b"abcd"


def test_hang_above_size(make_sim: MakeSim) -> None:
    sim = make_sim()
    sim.faults.hang_above = 5
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command('AT%CMNG=0,1,4,"12345"') == b"OK\r\n"
        assert port.command('AT%CMNG=0,2,4,"123456"', timeout=0.2) == b""
        assert port.command("AT%CMNG=1,2") == b"OK\r\n"  # unchanged, and the modem still answers
        sim.faults.hang_stores = True
        assert port.command('AT%CMNG=0,2,4,"123456"', timeout=0.2) == b""
        assert port.command("AT%CMNG=1,2").startswith(b"%CMNG: 2,4,")


def test_watched_tag_wiped_after_k_writes(make_sim: MakeSim) -> None:
    sim = make_sim()
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command('AT%CMNG=0,100,4,"watched"')
        sim.faults.wipe_tag, sim.faults.wipe_after = 100, 2
        port.command('AT%CMNG=0,1,4,"a"')
        assert port.command("AT%CMNG=1,100").startswith(b"%CMNG: 100,4")
        port.command('AT%CMNG=0,100,4,"own writes do not count"')
        port.command('AT%CMNG=0,2,4,"b"')
        assert port.command("AT%CMNG=1,100") == b"OK\r\n"


def test_lost_results_and_seeded_urcs(make_sim: MakeSim) -> None:
    sim = make_sim()
    sim.faults.lose_results = 1
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command('AT%CMNG=0,5,4,"x"', timeout=0.2) == b""
        assert sim.store.get(5, 4) is not None  # executed anyway
        assert port.command("AT") == b"OK\r\n"

    def urc_run(seed: int) -> bytes:
        other = make_sim(seed=seed)
        other.faults.urc_probability = 0.5
        with other.serve_pty() as path, RawPort(path) as port:
            return b"".join(port.command("AT+CFUN?") for _ in range(12))

    first, second = urc_run(7), urc_run(7)
    assert first == second and (b"+CEREG:" in first or b"%CESQ:" in first or b"+CSCON:" in first)
    assert first.count(b"+CFUN: 4\r\n") == 12


def test_power_off_warning_latches_528_until_rearmed(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5")
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        port.command('AT%CMNG=0,1,0,"c"')
        sim.faults.pofwarn = True
        assert port.command('AT%CMNG=0,1,4,"x"') == b"+CME ERROR: 528\r\n"
        assert port.command("AT%CMNG=3,1,0") == b"+CME ERROR: 528\r\n"
        assert port.command("AT%CMNG=2,1,0") == b"+CME ERROR: 528\r\n"
        assert port.command("AT%CMNG=1,1").startswith(b"%CMNG: 1,0")
        assert port.command("AT%XPOFWARN=1,30") == b"OK\r\n"
        assert port.command("AT%CMNG=3,1,0") == b"OK\r\n"


def test_accounting_log_redacts_secrets(tmp_path: Path, make_sim: MakeSim) -> None:
    log = tmp_path / "sim.jsonl"
    sim = make_sim(log_file=log, baud=115200)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command(f'AT%CMNG=0,9,3,"{SECRET}"')
        port.command(f'AT%CMNG=0,9,2,"-----BEGIN PRIVATE KEY-----{SECRET}","hunter2hunter2"')
        port.command("AT%CMNG=1,9")
    text = log.read_text()
    assert SECRET not in text and "hunter2" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["command"].startswith('AT%CMNG=0,9,3,"<redacted 32 bytes sha256=')
    assert records[0]["nvm_write"] is True and records[2]["nvm_write"] is False
    assert [r["kind"] for r in records] == ["%CMNG=0", "%CMNG=0", "%CMNG=1"]
    summary = sim.accounting.summary()
    assert summary["commands"] == 3 and summary["nvm_writes"] == 2
    assert summary["wire_time_s"] == round((summary["bytes_in"] + summary["bytes_out"]) * 10 / 115200, 6)
    assert sim.store.counters[(9, 3)].writes == 1
