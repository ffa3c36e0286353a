"""Doctor against the simulator: findings from real device answers, and proof that it is read-only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from credwarden.errors import ExitCode
from credwarden.field.doctor import run_doctor
from credwarden.modem.device import Device
from credwarden.sim import SimModem
from credwarden.transport.simulated import inprocess

from .conftest_types import MakeSim
from .pki import cert_pem, ec_key, key_pem


@contextmanager
def _device(sim: SimModem) -> Iterator[Device]:
    device = Device.over(inprocess(sim), mode="at_client", timeout=2.0)
    try:
        yield device
    finally:
        device.close()


def _nvm_or_cfun_changes(sim: SimModem, start: int) -> list[str]:
    records = sim.accounting.records[start:]
    return [r.command for r in records if r.nvm_write or r.kind.startswith("+CFUN=") or r.kind == "%XPOFWARN="]


def test_doctor_is_read_only_and_finds_problems(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2")
    ca_key, client_key = ec_key(), ec_key()
    ca = cert_pem("canary root", ca_key, ca=True, days_left=10)
    with _device(sim) as dev:
        dev.write(42, 0, ca)
        dev.write(43, 1, cert_pem("client", client_key, issuer=("canary root", ca_key), days_left=900))
        dev.write(16842753, 0, ca)
    sim.execute("AT+CFUN=1")
    sim.faults.pofwarn = True  # latch a power-off warning (the modem goes offline, CME 528 on NVM access)
    start = len(sim.accounting.records)
    with _device(sim) as dev:
        report = run_doctor(dev)
    assert _nvm_or_cfun_changes(sim, start) == []
    codes = {(f.code, f.sec_tag) for f in report.findings}
    assert ("power.off-warning-active", None) in codes
    assert ("cert.expiring", 42) in codes
    assert ("tags.incomplete-identity", 43) in codes  # client-cert without its key
    assert ("tags.nrf-cloud", 16842753) in codes
    assert report.exit_code is ExitCode.FAILURE
    assert key_pem(client_key) not in repr(report.to_json()).encode()


def test_healthy_device_exits_0(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5")
    key = ec_key()
    with _device(sim) as dev:
        dev.write(42, 0, cert_pem("root", key, ca=True))
        dev.write(42, 1, cert_pem("client", ec_key(), issuer=("root", key)))
        dev.write(42, 2, key_pem(ec_key()))
    sim.execute("AT+CFUN=1")
    with _device(sim) as dev:
        report = run_doctor(dev)
    assert report.errors == 0, report.to_json()
    assert report.exit_code is ExitCode.OK
    assert sim.ram.cfun == 1


def test_old_firmware_and_truncated_read(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(profile="1.2.3", frontend="shell", shell_response_max=300)
    key = ec_key()
    with _device_mode(sim, "shell") as dev:
        dev.write(42, 0, cert_pem("root", key, ca=True))
    with _device_mode(sim, "shell") as dev:
        report = run_doctor(dev)
    codes = {f.code for f in report.findings}
    assert "firmware.placeholder-digests" in codes
    assert {"buffer.read-truncated", "buffer.read-failed"} & codes, codes


@contextmanager
def _device_mode(sim: SimModem, mode: str) -> Iterator[Device]:
    device = Device.over(inprocess(sim), mode=mode, timeout=0.5)
    try:
        yield device
    finally:
        device.close()


def test_doctor_compares_with_a_manifest(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(profile="1.3.5")
    ca = cert_pem("manifest root", ec_key(), ca=True)
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "manifest.toml").write_text(
        '[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "ca.pem"\n\n'
        '[[credential]]\nsec_tag = 43\ntype = "psk-identity"\nvalue = "device-43"\n\n'
        '[[credential]]\nsec_tag = 44\ntype = "psk-identity"\nvalue = "device-44"\n'
    )
    with _device(sim) as dev:
        dev.write(42, 0, ca[: len(ca) // 2])  # an interrupted write left the first half
        dev.write(43, 4, b"device-43")
    with _device(sim) as dev:
        report = run_doctor(dev, manifest=tmp_path / "manifest.toml")
    by_tag = {f.sec_tag: f.code for f in report.findings if f.code.startswith("manifest.")}
    assert by_tag == {42: "manifest.truncated", 44: "manifest.missing"}
    assert report.exit_code is ExitCode.FAILURE


def test_corrupt_ca_stored_through_the_at_host_is_reported_as_content_not_buffer(make_sim: MakeSim) -> None:
    """A CA stored truncated (mfw 1.3 does not validate content) reads back whole: doctor blames the entry."""
    sim = make_sim(profile="1.3.5")
    whole = cert_pem("damaged root", ec_key(), ca=True)
    cut = whole[: len(whole) // 2]  # half a PEM block, as an interrupted tool would leave it
    with _device(sim) as dev:
        dev.write(42, 0, cut)
        report = run_doctor(dev)
    codes = {f.code for f in report.findings}
    assert "content.invalid" in codes, codes
    assert not {c for c in codes if c.startswith("buffer.")}
    assert report.exit_code == ExitCode.FAILURE
