"""Simulator identity and fidelity (issue: "trust", item 10), one test per reproduction:

* every simulator started with its own state file had the same IMEI (three boards merged into one device);
* `AT%DEVICEUUID` answered 32 hex digits instead of the 36-character form of Nordic's nRF91x1 reference;
* `%KEYGEN` never emitted the NULL parameter real modems put in ecdsa-with-SHA256 (the client's repair path);
* the README's `AT+CEREG?` (and the other read commands a user tries first) got ERROR.

Device-level checks go through a real pty (or the CLI against `credwarden sim` processes).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from tests.conftest import MakeSim
from tests.sim.rawclient import RawPort

from credwarden import api as cw
from credwarden.errors import ModemError
from credwarden.sim import SimConfig, SimModem
from credwarden.sim.identity import DEFAULT_IDENTITY, Identity, generate_identity, is_valid_imei, luhn_check_digit

DIALECTS = ("at_client", "shell", "slm")
PROFILES = ("1.2.3", "1.3.5", "2.0.2")
NULL_PARAM_ALG_ID = bytes.fromhex("300c06082a8648ce3d0403020500")


def _credwarden() -> list[str]:
    exe = Path(sys.executable).with_name("credwarden")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "credwarden.cli.app"]


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ----------------------------------------------------------------------------------- identity per state file


def test_three_state_files_are_three_devices(tmp_path: Path) -> None:
    identities = []
    for n in range(3):
        sim = SimModem(SimConfig(state_file=tmp_path / f"board{n}.json", fast=True, profile="2.0.2"))
        try:
            with sim.serve_pty() as path, RawPort(path) as port:
                imei = port.command("AT+CGSN").split(b"\r\n")[0].decode()
                device_uuid = port.command("AT%DEVICEUUID").split(b"\r\n")[0].decode().split(": ")[1]
            identities.append((imei, device_uuid, sim.identity.iccid, sim.identity.imsi))
        finally:
            sim.stop()
        kept = json.loads((tmp_path / f"board{n}.json").read_text())["identity"]
        assert (kept["imei"], kept["device_uuid"]) == (imei, device_uuid)
    assert all(is_valid_imei(imei) for imei, *_ in identities)
    for column in zip(*identities, strict=True):
        assert len(set(column)) == 3, column  # IMEI, device UUID, ICCID and IMSI all differ


def test_the_identity_survives_restarts_and_overrides_apply_per_run(tmp_path: Path) -> None:
    state = tmp_path / "board.json"
    chosen = "35265610000001" + luhn_check_digit("35265610000001")
    with SimModem(SimConfig(state_file=state, fast=True, imei=chosen)) as sim:
        assert sim.identity.imei == chosen  # given when the file is created: it becomes the board's IMEI
        first = sim.identity
    with SimModem(SimConfig(state_file=state, fast=True)) as sim:
        assert sim.identity == first
    other = "352656100000028"
    with SimModem(SimConfig(state_file=state, fast=True, imei=other)) as sim:
        assert sim.identity.imei == other and sim.identity.device_uuid == first.device_uuid
    assert json.loads(state.read_text())["identity"]["imei"] == chosen  # an override is not written back


def test_without_a_state_file_the_identity_is_fixed(make_sim: MakeSim) -> None:
    assert make_sim().identity == make_sim(seed=7).identity == DEFAULT_IDENTITY
    assert make_sim(imei="352656100000028").identity.imei == "352656100000028"


def test_a_state_file_from_before_identities_gets_one(tmp_path: Path) -> None:
    state = tmp_path / "old.json"
    state.write_text(json.dumps({"format": 1, "nvm_writes": 0, "entries": [], "counters": {}}))
    with SimModem(SimConfig(state_file=state, fast=True)) as sim:
        created = sim.identity
    assert Identity.from_json(json.loads(state.read_text())["identity"]) == created


def test_a_broken_identity_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "bad.json"
    bad = DEFAULT_IDENTITY.to_json() | {"imei": "352656100367873"}
    state.write_text(json.dumps({"format": 1, "identity": bad, "entries": []}))
    with pytest.raises(ValueError, match=r"bad\.json: not a usable simulator state file .*Luhn"):
        SimModem(SimConfig(state_file=state))


def test_generated_identities_are_well_formed() -> None:
    import random

    for seed in range(50):
        identity = generate_identity(random.Random(seed))
        assert is_valid_imei(identity.imei) and identity.imei.startswith("35265610")
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", identity.device_uuid
        )
        assert len(identity.iccid) == 19 and luhn_check_digit(identity.iccid[:-1]) == identity.iccid[-1]
        assert len(identity.imsi) == 15 and identity.imsi.isdigit()


@contextlib.contextmanager
def _sim_process(*args: str, report: dict[str, object] | None = None) -> Iterator[str]:
    """`credwarden sim --fast ARGS` on a pty; with `report`, `--json` and its final document stored there."""
    extra = ["--json"] if report is not None else []
    process = subprocess.Popen(
        [*_credwarden(), "sim", "--fast", *extra, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        yield path
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        if report is not None:
            report.update(json.loads(stdout))


def test_cli_boards_with_their_own_state_files_report_their_own_imei(tmp_path: Path) -> None:
    seen = []
    report: dict[str, object] = {}
    with (
        _sim_process("--state", str(tmp_path / "a.json"), report=report) as first,
        _sim_process("--state", str(tmp_path / "b.json")) as second,
    ):
        for path in (first, second):
            result = subprocess.run(
                [*_credwarden(), "--port", path, "info", "--json"], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
            seen.append(json.loads(result.stdout)["imei"])
    assert seen[0] != seen[1] and all(is_valid_imei(imei) for imei in seen)
    assert seen == [json.loads((tmp_path / f"{n}.json").read_text())["identity"]["imei"] for n in "ab"]
    assert report["identity"] == json.loads((tmp_path / "a.json").read_text())["identity"]  # `sim --json` names it


# ----------------------------------------------------------------------------------- %DEVICEUUID


@pytest.mark.parametrize("frontend", DIALECTS)
def test_deviceuuid_has_the_36_character_form_and_matches_the_token(make_sim: MakeSim, frontend: str) -> None:
    sim = make_sim(profile="2.0.2", frontend=frontend)
    with sim.serve_pty() as path:
        with RawPort(path) as port:
            if frontend == "shell":
                port.read_until(b"$ ")
                answer = port.command("at AT%DEVICEUUID", terminator=b"\r\n")
            else:
                if frontend == "slm":
                    port.read_until(b"Ready\r\n")
                answer = port.command("AT%DEVICEUUID", terminator=b"\r\n" if frontend == "slm" else b"\r")
        line = re.search(rb"%DEVICEUUID: (\S+)\r\n", answer)
        assert line is not None, answer
        assert re.fullmatch(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", line.group(1))
        with cw.connect(path) as dev:
            info = dev.info()
            token = dev.attest()
    assert info.uuid == token.device_uuid == line.group(1).decode() == sim.identity.device_uuid


# ----------------------------------------------------------------------------------- %KEYGEN NULL parameter


def test_keygen_csr_carries_the_null_parameter_by_default_and_the_client_repairs_it(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2")
    with sim.serve_pty() as path:
        with RawPort(path) as port:
            answer = port.command("AT%KEYGEN=70,2,0")
        der = _b64url(answer.split(b'"')[1].split(b".")[0].decode())
        assert NULL_PARAM_ALG_ID in der  # as in every real capture
        with pytest.raises(ValueError):
            x509.load_der_x509_csr(der)  # what strict parsers do with it
        with cw.connect(path) as dev:
            result = dev.keygen(71)
    assert result.repaired_null_params
    csr = x509.load_pem_x509_csr(result.csr_pem.encode())
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == f"CN={sim.identity.device_uuid}"


def test_the_standard_csr_form_is_an_option(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5", keygen_null_param_defect=False)
    with sim.serve_pty() as path, cw.connect(path) as dev:
        result = dev.keygen(72)
    assert not result.repaired_null_params
    assert x509.load_pem_x509_csr(result.csr_pem.encode()).is_signature_valid


def test_cli_flag_gives_the_standard_csr(tmp_path: Path) -> None:
    with _sim_process("--profile", "2.0.2", "--no-keygen-null-param") as path, RawPort(path) as port:
        answer = port.command("AT%KEYGEN=73,2,0")
    der = _b64url(answer.split(b'"')[1].split(b".")[0].decode())
    assert NULL_PARAM_ALG_ID not in der and x509.load_der_x509_csr(der).is_signature_valid


# ----------------------------------------------------------------------------------- first read commands


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("frontend", DIALECTS)
def test_first_read_commands_answer_plausibly(make_sim: MakeSim, frontend: str, profile: str) -> None:
    sim = make_sim(profile=profile, frontend=frontend)
    identity = sim.identity
    with sim.serve_pty() as path, cw.connect(path) as dev:

        def lines(command: str) -> list[str]:
            return list(dev.at(command).lines)

        assert lines("AT+CEREG?") == ["+CEREG: 0,0"]  # offline at boot: not registered
        assert lines("AT+CESQ") == ["+CESQ: 99,99,255,255,255,255"]
        assert lines("AT+CGMI") == ["Nordic Semiconductor ASA"]
        assert lines("AT+CGMM") == [sim.engine.profile.model]
        assert lines("AT+CGSN=1") == [f'+CGSN: "{identity.imei}"']
        assert lines("AT%XSYSTEMMODE?") == ["%XSYSTEMMODE: 1,0,0,0"]
        with pytest.raises(ModemError):
            dev.at("AT%XICCID")  # the SIM card is powered off in CFUN=4
        dev.at("AT+CFUN=41")  # SIM card on, radio still off
        assert lines("AT%XICCID") == [f"%XICCID: {identity.iccid}F"]
        assert lines("AT+CIMI") == [identity.imsi]
        assert lines("AT+CEREG?") == ["+CEREG: 0,0"]
        dev.at("AT+CEREG=5")
        dev.at("AT+CFUN=1")
        assert lines("AT+CEREG?") == ['+CEREG: 5,1,"002F","0012BEEF",7,,,"11100000","11100000"']
        dev.at("AT+CEREG=2")
        assert lines("AT+CEREG?") == ['+CEREG: 2,1,"002F","0012BEEF",7']
        assert lines("AT+CESQ") == ["+CESQ: 99,99,255,255,31,62"]
        with pytest.raises(ModemError, match="518"):
            dev.at("AT%XSYSTEMMODE=0,1,0,0")  # needs the modem offline
        dev.at("AT+CFUN=4")
        dev.at("AT%XSYSTEMMODE=0,1,0,0")
        dev.at("AT+CFUN=1")
        assert lines("AT+CEREG?") == ['+CEREG: 2,1,"002F","0012BEEF",9']  # NB-IoT
        with pytest.raises(ModemError):
            dev.at("AT+CEREG=6")
        dev.at("AT+CFUN=4")


def test_readme_cereg_example_answers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from credwarden.cli.app import app

    result = CliRunner().invoke(app, ["--port", "sim://", "at", "AT+CEREG?"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "+CEREG: 0,0" in result.stdout
