"""Secret hygiene, proven: a canary private key, PSK and key password go through every path, and no fragment of
them appears in stdout, stderr, log records (any level), exception messages, tracebacks, JSON, the simulator's
state and accounting log, the inventory database, or any other file written.

Fragments checked: every 16-character window of the keys' base64 bodies, every 16-character window of the PSK
hex (both cases), and the password.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import CredwardenError, DeviceTimeout, InvalidContent, ModemOnline
from credwarden.field.campaign import CampaignSettings, run_campaign
from credwarden.field.doctor import run_doctor
from credwarden.modem.device import Device
from credwarden.sim import SimConfig, SimModem
from credwarden.transport.simulated import inprocess

WINDOW = 16


@dataclass(frozen=True)
class Canary:
    key_pem: bytes
    encrypted_key_pem: bytes
    password: str
    psk: str  #: hex text, as written to the modem

    def fragments(self) -> set[str]:
        found: set[str] = set()
        for pem in (self.key_pem, self.encrypted_key_pem):
            body = "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))
            found.update(body[i : i + WINDOW] for i in range(len(body) - WINDOW + 1))
        for text in (self.psk.lower(), self.psk.upper()):
            found.update(text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1))
        found.add(self.password)
        return found


@pytest.fixture(scope="module")
def canary() -> Canary:
    key = ec.generate_private_key(ec.SECP256R1())
    password = "pw-" + secrets.token_hex(12)
    plain = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    return Canary(plain, encrypted, password, secrets.token_hex(16))


def assert_clean(text: str | bytes, where: str, canary: Canary) -> None:
    data = text.decode("latin-1") if isinstance(text, bytes) else text
    leaked = sorted(f for f in canary.fragments() if f in data)
    assert not leaked, (
        f"secret fragment(s) leaked into {where}: {len(leaked)} fragments, e.g. at offset {data.find(leaked[0])}"
    )


def _files_written(root: Path, inputs: set[Path]) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path not in inputs:
            yield path


def _manifest(directory: Path) -> Path:
    path = directory / "manifest.toml"
    path.write_text(
        '[[credential]]\nsec_tag = 80\ntype = "client-key"\nfile = "key.pem"\n\n'
        '[[credential]]\nsec_tag = 81\ntype = "psk"\nfile = "psk.txt"\n\n'
        '[[credential]]\nsec_tag = 81\ntype = "psk-identity"\nvalue = "hygiene-device"\n'
    )
    return path


def _inputs(directory: Path, canary: Canary) -> set[Path]:
    (directory / "key.pem").write_bytes(canary.key_pem)
    (directory / "enc.pem").write_bytes(canary.encrypted_key_pem)
    (directory / "psk.txt").write_text(canary.psk)
    return {directory / "key.pem", directory / "enc.pem", directory / "psk.txt", _manifest(directory)}


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from credwarden.__main__ import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.slow  # thirteen CLI processes (the only way to capture everything a real run prints)
def test_cli_paths_never_show_secrets(tmp_path: Path, canary: Canary) -> None:
    inputs = _inputs(tmp_path, canary)
    state = tmp_path / "state.json"
    env = {
        **os.environ,
        "CREDWARDEN_PORT": f"sim://{state}?profile=2.0.2",
        "CW_KEY_PASSWORD": canary.password,
        "CREDWARDEN_DB": str(tmp_path / "inventory.db"),
    }
    key, enc, psk, manifest = (str(tmp_path / n) for n in ("key.pem", "enc.pem", "psk.txt", "manifest.toml"))
    runs = [
        (["write", "50", "client-key", key], 0),
        (["write", "50", "client-key", key, "--json", "--debug"], 0),
        (["--debug", "write", "51", "psk", psk, "--json"], 0),
        (["write", "52", "client-key", enc, "--password-env", "CW_KEY_PASSWORD", "--debug"], 0),
        (["write", "54", "psk", key, "--debug", "--json"], None),  # a PEM key as PSK: refused somewhere
        (["apply", manifest, "--json", "--debug"], 0),
        (["apply", manifest, "--debug"], 0),
        (["plan", manifest, "--json", "--debug"], 0),
        (["list", "--json", "--debug"], 0),
        (["doctor", manifest, "--json", "--debug"], None),
        (["canary", "--write-tag", "900", "--watch", "50,81", "--cycles", "2", "--json", "--debug"], 0),
    ]
    debug_log = []
    for args, expected in runs:
        result = _cli(args, env)
        where = "credwarden " + " ".join(a if not a.startswith(str(tmp_path)) else Path(a).name for a in args)
        if expected is not None:
            assert result.returncode == expected, f"{where}: exit {result.returncode}: {result.stderr[-300:]}"
        assert "Traceback" not in result.stderr, f"{where}: traceback"
        assert_clean(result.stdout, f"stdout of {where}", canary)
        assert_clean(result.stderr, f"stderr of {where}", canary)
        debug_log.append(result.stderr)
    # the inventory: import the captured debug traffic (it contains the %CMNG list answers)
    capture = tmp_path / "capture.log"
    capture.write_text("\n".join(debug_log))
    imported = _cli(["inventory", "import", str(capture), "--device", "352656100367872"], env)
    assert_clean(imported.stdout + imported.stderr, "inventory import output", canary)
    for path in _files_written(tmp_path, inputs | {capture}):
        assert_clean(path.read_bytes(), f"file {path.name}", canary)


def test_private_key_written_as_certificate_is_not_traced(tmp_path: Path, canary: Canary) -> None:
    _inputs(tmp_path, canary)
    env = {**os.environ, "CREDWARDEN_PORT": f"sim://{tmp_path / 'state.json'}?profile=2.0.2"}
    result = _cli(["write", "53", "client-cert", str(tmp_path / "key.pem"), "--debug"], env)
    assert result.returncode != 0  # CME 527 on 2.0.2 (or refused before sending)
    assert_clean(result.stdout + result.stderr, "credwarden write 53 client-cert key.pem --debug", canary)


@pytest.mark.slow  # a simulator process plus CLI processes, like `make demo`
def test_demo_style_pty_session_leaves_no_secret_in_its_directory(tmp_path: Path, canary: Canary) -> None:
    """The `make demo` flow (`credwarden sim --pty --state ... --log ...` + CLI over the pty), with secrets."""
    inputs = _inputs(tmp_path, canary)
    demo = tmp_path / "demo"
    demo.mkdir()
    command = [
        sys.executable,
        "-c",
        "from credwarden.__main__ import main; main()",
        "sim",
        "--pty",
        "--fast",
        "--profile",
        "2.0.2",
        "--state",
        str(demo / "state.json"),
        "--log",
        str(demo / "sim-log.jsonl"),
    ]
    env = {**os.environ, "CREDWARDEN_PORT": "", "CW_KEY_PASSWORD": canary.password}
    with (demo / "sim.err").open("w") as err:
        sim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        try:
            assert sim.stdout is not None
            port = sim.stdout.readline().strip()
            assert port.startswith("/dev/"), port
            for args in (
                ["write", "70", "client-key", str(tmp_path / "key.pem"), "--debug"],
                ["write", "71", "psk", str(tmp_path / "psk.txt"), "--json", "--debug"],
                [
                    "write",
                    "72",
                    "client-key",
                    str(tmp_path / "enc.pem"),
                    "--password-env",
                    "CW_KEY_PASSWORD",
                    "--debug",
                ],
                ["apply", str(tmp_path / "manifest.toml"), "--debug", "--json"],
                ["list", "--debug"],
            ):
                name = "-".join(Path(a).name for a in args[:2])
                result = _cli(["--port", port, *args], env)
                assert result.returncode == 0, result.stderr[-300:]
                (demo / f"cli-{name}.out").write_text(result.stdout + result.stderr)
        finally:
            sim.terminate()
            sim.wait(timeout=10)
            if sim.stdout is not None:
                (demo / "sim.out").write_text(sim.stdout.read())
                sim.stdout.close()
    written = list(_files_written(demo, inputs))
    assert {p.name for p in written} >= {"state.json", "sim-log.jsonl", "sim.err", "sim.out"}
    for path in written:
        assert_clean(path.read_bytes(), f"demo file {path.name}", canary)


@pytest.fixture
def all_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(1)  # every level, every logger
    logging.getLogger("credwarden").setLevel(1)
    return caplog


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(getattr(exc, "command", ""))


def test_api_error_and_fault_paths_never_show_secrets(
    tmp_path: Path, canary: Canary, all_records: pytest.LogCaptureFixture
) -> None:
    inputs = _inputs(tmp_path, canary)
    sim = SimModem(
        SimConfig(
            profile="2.0.2", fast=True, state_file=tmp_path / "sim-state.json", log_file=tmp_path / "sim-log.jsonl"
        )
    )
    texts: list[tuple[str, str]] = []
    try:
        dev = Device.over(inprocess(sim), mode="at_client", timeout=1.0)
        dev.session.timeouts = TimeoutPolicy(base=1.0, cfun_set=1.0, list_base=1.0, per_kib=0.1)
        with dev:
            dev.write(60, 2, canary.key_pem)
            dev.write(61, 3, canary.psk.encode())
            dev.write(62, 2, canary.encrypted_key_pem, password=canary.password)
            texts.append(("list", repr(dev.list())))
            texts.append(("doctor", repr(run_doctor(dev).to_json())))
            sim.execute("AT+CFUN=1")
            failures: list[tuple[str, type[CredwardenError], object]] = [
                ("518 online", ModemOnline, lambda: dev.at(f'AT%CMNG=0,63,3,"{canary.psk}"')),
                (
                    "527 invalid",
                    InvalidContent,
                    lambda: dev.write(64, 0, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                ),
            ]
            for label, kind, action in failures:
                with pytest.raises(kind) as info:
                    action()  # type: ignore[operator]
                texts.append((label, _exception_text(info.value)))
            sim.faults.hang_above = 0
            with pytest.raises(DeviceTimeout) as hung:
                dev.write(65, 2, canary.key_pem, password=canary.password)
            texts.append(("timeout", _exception_text(hung.value)))
            sim.faults.hang_above = None

            def power_back(event: str, data: dict[str, object]) -> None:
                if event == "timeout" and sim.ram.dead:
                    sim.restart()  # the power comes back while the client waits

            dev.add_observer(power_back)
            sim.faults.power_cut_after = 20
            with pytest.raises(DeviceTimeout) as cut:
                dev.write(66, 3, canary.psk.encode())
            texts.append(("power cut", _exception_text(cut.value)))
            sim.restart()
        texts.append(("session stats", repr(dev.stats)))
        texts.append(("accounting", repr([r for r in sim.accounting.records])))
        texts.append(("accounting summary", repr(sim.accounting.summary())))
    finally:
        sim.stop()
    report = run_campaign(CampaignSettings(tmp_path / "manifest.toml", points=3, seed=5, workers=4))
    texts.append(("campaign", repr(report.to_json()) + repr(report.results)))
    for label, text in texts:
        assert_clean(text, label, canary)
    for record in all_records.records:
        assert_clean(record.getMessage() + (record.exc_text or ""), f"log record from {record.name}", canary)
    assert_clean(all_records.text, "captured log output", canary)
    for path in _files_written(tmp_path, inputs):
        assert_clean(path.read_bytes(), f"file {path.name}", canary)


def test_fragment_check_is_not_vacuous(canary: Canary) -> None:
    """The checker must catch a leak of any window, including the PSK in upper case."""
    with pytest.raises(AssertionError):
        assert_clean("prefix " + canary.key_pem.decode().splitlines()[3][5:30] + " suffix", "probe", canary)
    with pytest.raises(AssertionError):
        assert_clean(canary.psk.upper()[4:24], "probe", canary)
    with pytest.raises(AssertionError):
        assert_clean(f"password={canary.password}", "probe", canary)
    assert_clean("<redacted 241 bytes sha256=0011>", "probe", canary)


def test_factory_batch_sim_report_and_campaign_never_show_secrets(
    tmp_path: Path, canary: Canary, all_records: pytest.LogCaptureFixture
) -> None:
    """The factory paths (JSON lines, plain lines, the live table, the inventory database), `sim report` on the
    simulators' command logs and `sim campaign --json`, all with the canary key and PSK in the manifest."""
    import io

    from rich.console import Console
    from typer.testing import CliRunner

    from credwarden.cli.app import app
    from credwarden.factory.batch import run_batch
    from credwarden.factory.station import Station
    from credwarden.factory.view import LiveTableView

    inputs = _inputs(tmp_path, canary)
    manifest = tmp_path / "manifest.toml"
    runner = CliRunner()
    texts: list[tuple[str, str]] = []
    sims = [
        SimModem(
            SimConfig(
                profile="2.0.2",
                fast=True,
                imei=imei,
                state_file=tmp_path / f"state-{n}.json",
                log_file=tmp_path / f"sim-{n}.jsonl",
            )
        )
        for n, imei in enumerate(("352656100367872", "352656100367880"))
    ]
    inventory = str(tmp_path / "inventory.db")
    with sims[0], sims[1], sims[0].serve_pty() as p1, sims[1].serve_pty() as p2:
        base = ["apply", str(manifest), "--port", p1, "--port", p2, "--inventory", inventory]
        for args in ([*base, "--json"], [*base, "--debug"]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            texts.append((" ".join(args[3:]), result.stdout + result.stderr))
        assert '"applied"' in texts[0][1] or '"unchanged"' in texts[0][1]
        screen = io.StringIO()
        live = LiveTableView(Console(file=screen, force_terminal=True, width=160))
        report = run_batch(Station(manifest=manifest, ports=[p1, p2], inventory=inventory), view=live)
        texts.append(("live view", screen.getvalue()))
        texts.append(("batch report", repr(report)))
    assert all(sim.store.get(80, 2) is not None and sim.store.get(81, 3) is not None for sim in sims)  # not vacuous
    for n in (0, 1):
        for extra in ([], ["--json"]):
            result = runner.invoke(app, ["sim", "report", str(tmp_path / f"sim-{n}.jsonl"), *extra])
            assert result.exit_code == 0, result.output
            texts.append((f"sim report {n} {extra}", result.stdout + result.stderr))
    result = runner.invoke(
        app, ["sim", "campaign", str(manifest), "--points", "2", "--kind", "power-cut", "--kind", "reboot", "--json"]
    )
    assert result.exit_code == 0, result.output
    texts.append(("sim campaign --json", result.stdout + result.stderr))
    for label, text in texts:
        assert_clean(text, label, canary)
    for record in all_records.records:
        assert_clean(record.getMessage() + (record.exc_text or ""), f"log record from {record.name}", canary)
    for path in _files_written(tmp_path, inputs):  # the inventory database, the simulators' state and logs
        assert_clean(path.read_bytes(), f"file {path.name}", canary)
    assert (tmp_path / "inventory.db").stat().st_size > 0
