"""Tier 2: Device against the simulated modem through a real pseudo-terminal, in every dialect."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import credwarden.api as cw
from credwarden.errors import DeviceRebooted, DeviceTimeout, ModemOnline, NotFound, UsageError, ValidationError
from credwarden.sim import SimModem
from credwarden.sim.config import profile_for

DIALECTS = ["at_client", "shell", "slm"]


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "credwarden test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def connect(make_sim: Callable[..., SimModem]) -> Iterator[Callable[..., tuple[SimModem, cw.Device]]]:
    """`connect(frontend=..., **sim_config)` -> (sim, device) over a pty; all closed at teardown."""
    opened: list[tuple[Any, cw.Device]] = []

    def factory(timeout: float | None = None, mode: str = "auto", **config: Any) -> tuple[SimModem, cw.Device]:
        sim = make_sim(**config)
        server = sim.serve_pty()
        path = server.__enter__()
        device = cw.connect(path, mode=mode, timeout=timeout)
        opened.append((server, device))
        return sim, device

    yield factory
    for server, device in opened:
        device.close()
        server.__exit__(None, None, None)


@pytest.mark.parametrize("frontend", DIALECTS)
def test_detect_info_write_list_read(connect: Any, frontend: str, ca_pem: bytes) -> None:
    _, dev = connect(frontend=frontend)
    assert dev.dialect == frontend
    info = dev.info()
    assert info.imei == "352656100367872"
    assert info.firmware_version == (1, 3, 5)
    assert info.model and info.cfun == 4 and info.dialect == frontend
    assert info.modem_build_uuid == profile_for("1.3.5").build_uuid  # one per firmware build
    dev.write(1001, "root-ca", ca_pem)
    listed = {(e.sec_tag, e.type): e for e in dev.list()}
    expected_sha = hashlib.sha256(dev.stored_form(ca_pem)).hexdigest().upper()
    assert listed[(1001, 0)].sha256 == expected_sha
    assert dev.list(sec_tag=1001) == [listed[(1001, 0)]]
    assert dev.list(type="root-ca")[0].sec_tag == 1001
    result = dev.read(1001, 0)
    assert result.content == dev.stored_form(ca_pem)
    assert result.entry.sha256 == expected_sha


@pytest.mark.parametrize("frontend", DIALECTS)
def test_missing_entries_are_not_found(connect: Any, frontend: str) -> None:
    _, dev = connect(frontend=frontend)
    with pytest.raises(NotFound, match="not found"):
        dev.read(77, "root-ca")
    with pytest.raises(NotFound):
        dev.delete(77, 0)
    assert dev.list(sec_tag=77) == []


def test_unreadable_type_refused_before_sending(connect: Any) -> None:
    _, dev = connect()
    before = dev.stats.commands
    with pytest.raises(UsageError, match="cannot be read back"):
        dev.read(1, "client-key")
    with pytest.raises(ValidationError):
        dev.write(1, 0, b'bad"quote')
    assert dev.stats.commands == before


def test_write_goes_offline_and_restores_cfun(connect: Any, key_pem: bytes) -> None:
    sim, dev = connect(boot_cfun=1)
    commands: list[str] = []
    dev.add_observer(lambda event, data: commands.append(data["command"]) if event == "command" else None)
    dev.list()
    dev.info()
    assert not any(c.startswith("AT+CFUN=") for c in commands), "read-only commands must not change CFUN"
    dev.write(5, "client-key", key_pem)
    assert [c for c in commands if c.startswith("AT+CFUN=")] == ["AT+CFUN=4", "AT+CFUN=1"]
    assert sim.ram.cfun == 1
    assert not any("PRIVATE KEY" in c for c in commands)
    assert dev.stats.nvm_operations == 1


def test_offline_restored_on_keyboard_interrupt(connect: Any) -> None:
    sim, dev = connect(boot_cfun=1)
    with pytest.raises(KeyboardInterrupt), dev.offline():
        assert sim.ram.cfun == 4
        with dev.offline():  # nested: no second switch
            pass
        assert sim.ram.cfun == 4
        raise KeyboardInterrupt
    assert sim.ram.cfun == 1


def test_offline_restored_on_modem_error(connect: Any) -> None:
    sim, dev = connect(boot_cfun=2)
    with pytest.raises(NotFound):
        dev.delete(9, 0)
    assert sim.ram.cfun == 2


def test_cmee_turned_on_for_changes_only_and_restored_at_close(connect: Any, ca_pem: bytes) -> None:
    sim, dev = connect()
    dev.list()
    assert sim.ram.cmee == 0  # a read-only session leaves the setting alone
    dev.write(5, 0, ca_pem)
    assert sim.ram.cmee == 1  # errors of a change come with their code
    dev.close()
    assert sim.ram.cmee == 0


def test_read_only_session_sends_no_setup_beyond_the_probe(connect: Any) -> None:
    sim, dev = connect()
    dev.list()
    dev.close()
    sent = [r.command.strip() for r in sim.accounting.records]
    assert sent == ["AT+CMEE?", "AT%CMNG=1"]


def test_delete_all_spares_modem_tags(connect: Any, ca_pem: bytes) -> None:
    _, dev = connect()
    dev.write(1, 0, ca_pem)
    dev.write(2, 4, b"nrf91test")
    outcomes = dev.delete_all()
    assert {(o.sec_tag, o.type) for o in outcomes} == {(1, 0), (2, 4)}
    assert all(o.deleted for o in outcomes)
    remaining = dev.list()
    assert remaining and all(e.sec_tag > 2147483647 for e in remaining)
    assert dev.delete_all() == []


def test_urcs_set_aside(connect: Any, ca_pem: bytes) -> None:
    sim, dev = connect(seed=3)
    sim.faults.urc_probability = 0.7
    dev.write(3, 0, ca_pem)
    for _ in range(5):
        assert [(e.sec_tag, e.type) for e in dev.list(sec_tag=3)] == [(3, 0)]
        assert dev.info().imei == "352656100367872"
    assert dev.stats.urcs


def test_lost_final_result_of_a_query_is_retried(connect: Any) -> None:
    sim, dev = connect(timeout=0.3)
    sim.faults.lose_results = 1
    assert dev.at("AT+CGMM").lines[0].startswith("nRF91")
    assert (dev.stats.lost_answers, dev.stats.retries) == (1, 1)


def test_lost_final_result_of_a_change_times_out_then_resyncs(connect: Any) -> None:
    sim, dev = connect(timeout=0.3)
    dev.at("AT+CMEE=1")
    sim.faults.lose_results = 1
    with pytest.raises(DeviceTimeout, match="resynchronised"):
        dev.at("AT+CFUN=4")
    assert dev.stats.retries == 0  # a change is never sent twice blindly
    assert dev.at("AT+CGMM").lines[0].startswith("nRF91")


def test_reboot_mid_session(connect: Any) -> None:
    sim, dev = connect(frontend="slm", boot_cfun=1)
    dev.list()
    sim.restart()
    with pytest.raises(DeviceRebooted):
        dev.list()
    dev.reestablish()
    assert dev.session.cmee == sim.ram.cmee == 0  # known again; turned on before the next change
    assert dev.list() is not None


def test_write_refused_when_forced_online(connect: Any, ca_pem: bytes) -> None:
    _, dev = connect()
    dev.at("AT+CFUN=1")
    with dev.offline():
        dev.at("AT+CFUN=1")  # someone puts the modem online inside the window
        with pytest.raises(ModemOnline, match="518"):
            dev.session.command('AT%CMNG=0,5,0,"x"')


def test_old_firmware_placeholder_digests(connect: Any, ca_pem: bytes) -> None:
    _, dev = connect(profile="1.2.3")
    dev.write(8, 0, ca_pem)
    entry = dev.list(sec_tag=8)[0]
    assert entry.placeholder_digest and entry.to_json()["placeholder_digest"] is True


def test_keygen_attest_expiry(connect: Any, ca_pem: bytes) -> None:
    _, dev = connect(profile="2.0.2")
    result = dev.keygen(123, attributes="CN=credwarden-test")
    assert result.sec_tag == 123 and "credwarden-test" in result.subject
    assert (123, 2) in {(e.sec_tag, e.type) for e in dev.list()}
    token = dev.attest()
    assert token.device_uuid == "50363154-3931-44f0-8022-121b6401627d"
    dev.write(9, 0, ca_pem)
    expiry = dev.expiry(9, 0)
    assert expiry.serial.endswith("1234")
    assert expiry.not_after > expiry.not_before


def test_socket_url_transport(make_sim: Callable[..., SimModem]) -> None:
    sim = make_sim()
    with sim.serve_tcp() as url, cw.connect(url) as dev:
        assert url.startswith("socket://")
        assert dev.info().imei == "352656100367872"


def test_sim_url_transport(tmp_path: Any, ca_pem: bytes) -> None:
    state = tmp_path / "state.json"
    with cw.connect(f"sim://{state}?frontend=shell") as dev:
        assert dev.dialect == "shell"
        dev.write(4, 0, ca_pem)
    with cw.connect(f"sim://{state}") as dev:
        assert [e.sec_tag for e in dev.list(sec_tag=4)] == [4]


def test_private_key_as_certificate_refused_before_sending(connect: Any, key_pem: bytes) -> None:
    _, dev = connect()
    before = dev.stats.commands
    with pytest.raises(ValidationError, match="private key"):
        dev.write(5, "client-cert", key_pem)
    assert dev.stats.commands == before


@pytest.mark.parametrize(("profile", "commands", "with_uuid"), [("1.3.5", 3, False), ("2.0.2", 4, True)])
def test_identity_for_the_inventory_is_cheap(connect: Any, profile: str, commands: int, with_uuid: bool) -> None:
    """`list` files the device with `identity()`: no CFUN, build UUID or attestation token (150 ms of modem time)."""
    sim, dev = connect(profile=profile)
    before = len(sim.accounting.records)
    found = dev.identity()
    kinds = [r.kind for r in sim.accounting.records[before:]]
    assert len(kinds) == commands and not any("ATTESTTOKEN" in k or "CFUN" in k for k in kinds), kinds
    assert found.imei == sim.config.imei and found.firmware_version is not None
    assert (found.uuid is not None) is with_uuid
