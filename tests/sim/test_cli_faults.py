"""`credwarden sim` as users run it: every fault selected by its command-line flag, `--baud` throttling and
`sim report`, each through a real pseudo-terminal served by a separate simulator process."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.sim.rawclient import FINAL, RawPort
from typer.testing import CliRunner

from credwarden.cli.app import app

CLI = "from credwarden.__main__ import main; main()"
PEM = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"


@contextmanager
def sim_process(*options: str) -> Iterator[str]:
    """`credwarden sim --pty OPTIONS` in its own process; yields the device path it printed first."""
    command = [sys.executable, "-c", CLI, "sim", "--pty", *options]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), (
            f"simulator did not start: {path!r} {proc.stderr.read() if proc.stderr else ''}"
        )
        yield path
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def write_command(tag: int, content: bytes = PEM) -> bytes:
    return b"AT%CMNG=0," + str(tag).encode() + b',0,"' + content + b'"'


def test_power_cut_flag_persists_a_truncated_entry_then_silence(tmp_path: Path) -> None:
    state = str(tmp_path / "nvm.json")
    with sim_process("--fast", "--state", state, "--power-cut-after", "20") as path, RawPort(path) as port:
        assert port.command("AT+CMEE=1") == b"OK\r\n"
        assert port.command(write_command(42), timeout=0.5) == b""  # power gone mid-write
        assert port.command("AT", timeout=0.3) == b""  # silent until restart
    with sim_process("--fast", "--state", state) as path, RawPort(path) as port:
        listing = port.command("AT%CMNG=1,42")
    digest = hashlib.sha256(PEM[:20]).hexdigest().upper().encode()
    assert listing == b'%CMNG: 42,0,"' + digest + b'"\r\nOK\r\n'


def test_hang_and_pofwarn_flags(tmp_path: Path) -> None:
    with sim_process("--fast", "--hang-above", "40") as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command(write_command(7, b"short"), timeout=1.0) == b"OK\r\n"
        assert port.command(write_command(8), timeout=0.4) == b""  # larger than 40 bytes: never answers
        assert port.command("AT%CMNG=1,8", timeout=1.0) == b"OK\r\n"  # not stored without --hang-stores
    with sim_process("--fast", "--pofwarn") as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command(write_command(9)) == b"+CME ERROR: 528\r\n"


def test_lost_results_and_urc_flags() -> None:
    flags = ("--fast", "--lose-results", "1", "--urc-probability", "1", "--seed", "3")
    with sim_process(*flags) as path, RawPort(path) as port:
        lost = port.command("AT", timeout=0.4)
        assert not FINAL.search(lost)  # executed, but its OK never came
        answer = port.command("AT+CGMM")
    lines = [line for line in answer.decode().split("\r\n") if line]
    assert lines[-1] == "OK"
    assert any(line.startswith(("+CEREG", "%CESQ", "+CSCON")) for line in lines[:-1]), lines


def test_baud_flag_throttles_the_uart() -> None:
    with sim_process("--fast", "--baud", "2400") as path, RawPort(path) as port:
        started = time.monotonic()
        answer = port.command("AT+CGMR")
        elapsed = time.monotonic() - started
    assert answer.endswith(b"OK\r\n")
    minimum = (len(b"AT+CGMR\r") + len(answer)) * 10 / 2400  # what a 2400-baud UART can carry at best
    assert elapsed >= 0.9 * minimum, f"{elapsed:.3f} s for a {minimum:.3f} s wire-time bound"


def test_report_summarises_the_log(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    with sim_process("--fast", "--log", str(log), "--baud", "115200") as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command(write_command(5)) == b"OK\r\n"
        port.command("AT%CMNG=1")
    runner = CliRunner()
    done = runner.invoke(app, ["sim", "report", str(log), "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["commands"] == 3 and summary["nvm_writes"] == 1 and summary["baud"] == 115200
    assert summary["bytes_in"] >= len(write_command(5)) and summary["wire_time_s"] > 0
    human = runner.invoke(app, ["sim", "report", str(log)])
    assert human.exit_code == 0 and "NVM writes" in human.stdout
    missing = runner.invoke(app, ["sim", "report", str(tmp_path / "nope.jsonl")])
    assert (missing.exit_code == 2 and missing.exception is None) or isinstance(missing.exception, SystemExit)
