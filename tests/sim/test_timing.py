"""Latency options: `Timing` from milliseconds, `credwarden sim --*-ms`, `sim://?*_ms=`; effect seen in the log.

The effect is checked on the accounting records' `processing_s` (lower bounds only: a simulated latency is a
wait, so it can only last longer under load), never on wall-clock upper bounds.
"""

from __future__ import annotations

import inspect
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import MakeSim
from tests.sim.certs import make_cert_pem
from tests.sim.rawclient import RawPort

from credwarden.errors import ExitCode, UsageError
from credwarden.sim import TIMING_OPTIONS, SimConfig, SimModem, Timing, timing_from_ms
from credwarden.transport import simulated
from credwarden.transport.simulated import parse_sim_url


def _credwarden() -> list[str]:
    exe = Path(sys.executable).with_name("credwarden")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "credwarden"]


def _records(sim: SimModem, kind: str) -> list[float]:
    return [r.processing_s for r in sim.accounting.records if r.kind == kind]


# ---------------------------------------------------------------------------------------------- tier 1: pure


def test_timing_from_ms_sets_the_named_fields_only() -> None:
    timing = timing_from_ms({"nvm_write_ms": 250, "cfun_ms": 7.5, "keygen_ms": None})
    assert timing.nvm_write_base == pytest.approx(0.25)
    assert timing.cfun_online == timing.cfun_offline == pytest.approx(0.0075)
    assert timing.keygen == Timing().keygen  # None: default kept
    assert timing.command == Timing().command
    assert timing_from_ms({"turnaround_ms": 0}, base=timing).command == 0.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nvm_write_ms": -1.0}, "nvm_write_ms must be between 0 and 600000 ms, got -1"),
        ({"keygen_ms": float("nan")}, "keygen_ms must be between 0"),
        ({"cfun_ms": 600001.0}, "cfun_ms must be between 0"),
        ({"nvm_ms": 1.0}, "unknown latency option 'nvm_ms'; known: turnaround_ms"),
    ],
)
def test_timing_from_ms_rejects_bad_values_by_name(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        timing_from_ms(values)


def test_timing_itself_rejects_negative_and_non_finite_latencies() -> None:
    with pytest.raises(ValueError, match=re.escape("timing keygen=-0.1")):
        Timing(keygen=-0.1)
    with pytest.raises(ValueError, match="timing command=inf"):
        Timing(command=float("inf"))


def test_the_cli_offers_exactly_the_latency_options_of_the_simulator() -> None:
    from credwarden.cli.sim_cmds import serve

    options = {name for name in inspect.signature(serve).parameters if name.endswith("_ms")}
    assert options == set(TIMING_OPTIONS)


def test_from_options_is_shared_by_urls_and_the_cli() -> None:
    config = SimConfig.from_options({"nvm_write_ms": "120", "fast": None}, profile="2.0.2")
    assert config.fast is False and config.timing.nvm_write_base == pytest.approx(0.12)
    assert SimConfig.from_options({}, fast_by_default=True).fast is True
    assert SimConfig.from_options({"fast": "yes"}).fast is True
    with pytest.raises(ValueError, match="--fast turns every latency off; it cannot be combined with --keygen-ms"):
        SimConfig.from_options({"fast": True, "keygen_ms": 5}, spell=lambda key: "--" + key.replace("_", "-"))
    with pytest.raises(ValueError, match=r"unknown option.*colour"):
        SimConfig.from_options({"colour": "red"})
    with pytest.raises(ValueError, match="fast='maybe' is not 0/1"):
        SimConfig.from_options({"fast": "maybe"})


def test_sim_url_latency_keys_imply_realistic_timing() -> None:
    spec = parse_sim_url("sim://?profile=2.0.2&nvm_write_ms=120&cfun_ms=0")
    assert spec.config.fast is False and spec.config.profile == "2.0.2"
    assert spec.config.timing.nvm_write_base == pytest.approx(0.12)
    assert spec.config.timing.cfun_online == spec.config.timing.cfun_offline == 0.0
    assert spec.config.timing.keygen == Timing().keygen
    assert parse_sim_url("sim://").config.fast is True


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://?fast=1&keygen_ms=10", "fast=1 turns every latency off"),
        ("sim://?nvm_write_ms=slow", "nvm_write_ms='slow' is not a number"),
    ],
)
def test_sim_url_bad_latency_options_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_sim_url(url)


def test_sim_url_out_of_range_latency_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nvm_write_ms must be between 0"):
        simulated.open_sim("sim://?nvm_write_ms=-5")


def test_sim_url_latency_reaches_the_simulator_config() -> None:
    transport = simulated.open_sim("sim://?nvm_write_ms=40&turnaround_ms=0")
    try:
        timing = transport.modem.config.timing  # type: ignore[attr-defined]
        assert not transport.modem.config.fast  # type: ignore[attr-defined]
        assert timing.nvm_write_base == pytest.approx(0.04) and timing.command == 0.0
    finally:
        transport.close()


# ---------------------------------------------------------------------------------------------- tier 2: pty


def test_cfun_latency_shows_in_the_processing_time(make_sim: MakeSim) -> None:
    timing = timing_from_ms({"cfun_ms": 150, "turnaround_ms": 0})
    sim = make_sim(fast=False, timing=timing)
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command("AT+CFUN=1").endswith(b"OK\r\n")
        assert port.command("AT+CFUN=4").endswith(b"OK\r\n")
        assert port.command("AT+CFUN?").endswith(b"OK\r\n")
    transitions = _records(sim, "+CFUN=")
    assert len(transitions) == 2 and min(transitions) >= 0.15
    assert _records(sim, "+CFUN?") != []


def test_fast_ignores_configured_latencies(make_sim: MakeSim) -> None:
    sim = make_sim(fast=True, timing=timing_from_ms({"cfun_ms": 5000}))
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command("AT+CFUN=1", timeout=2.0).endswith(b"OK\r\n")
    assert _records(sim, "+CFUN=")[0] < 5.0


def test_cli_nvm_write_ms_shows_in_the_logged_processing_time(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    args = ["sim", "--nvm-write-ms", "300", "--turnaround-ms", "0", "--cfun-ms", "0", "--log", str(log)]
    process = subprocess.Popen([*_credwarden(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        content = make_cert_pem().decode()
        with RawPort(path) as port:
            assert port.command("AT").endswith(b"OK\r\n")
            assert port.command(f'AT%CMNG=0,42,0,"{content}"').endswith(b"OK\r\n")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    write = [r for r in records if r["kind"] == "%CMNG=0"]
    assert len(write) == 1 and write[0]["nvm_write"] and write[0]["processing_s"] >= 0.3
    assert "BEGIN CERTIFICATE" not in log.read_text()


def test_cli_fast_with_a_latency_option_is_a_usage_error() -> None:
    result = subprocess.run(
        [*_credwarden(), "sim", "--fast", "--keygen-ms", "10", "--nvm-write-ms", "5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == ExitCode.USAGE
    assert "--fast turns every latency off; it cannot be combined with --nvm-write-ms, --keygen-ms" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
