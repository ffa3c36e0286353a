"""Where certificates' not_after comes from: apply's manifest files, `list --expiry`, carried-forward digests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.errors import ExitCode, ModemError
from credwarden.inventory import Inventory
from credwarden.inventory.expiry import certificate_not_after, device_expiries, supports_certexpiry
from credwarden.inventory.live import list_expiries, record_list
from credwarden.inventory.records import SnapshotRecord
from credwarden.models import CertExpiry, DeviceInfo, StoredEntry
from credwarden.sim import SimModem

runner = CliRunner()
INFO = DeviceInfo(
    imei="352656100000077",
    model="nRF9160",
    firmware="mfw_nrf9160_1.3.5",
    firmware_version=(1, 3, 5),
    uuid=None,
    modem_build_uuid=None,
    cfun=4,
    dialect="at_client",
)
DIGEST_A, DIGEST_B = "A" * 64, "B" * 64


def _root_ca(days: int) -> tuple[bytes, datetime]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Root {days}d")])
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), now + timedelta(days=days)


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_certificate_not_after_pem_der_and_garbage() -> None:
    pem, not_after = _root_ca(40)
    assert certificate_not_after(pem) == not_after
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert certificate_not_after(der) == not_after
    other, sooner = _root_ca(5)
    assert certificate_not_after(pem + other) == sooner  # a chain expires with its first certificate to go
    assert certificate_not_after(b"not a certificate") is None


def test_apply_records_expiry_and_drift_reports_it(sim_pty: tuple[SimModem, str], tmp_path: Path) -> None:
    _, path = sim_pty
    pem, not_after = _root_ca(10)
    (tmp_path / "ca.pem").write_bytes(pem)
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 4242\ntype = "root-ca"\nfile = "ca.pem"\n')
    code, out, err = _run("--port", path, "apply", str(manifest), "--json")
    assert code == 0, err + out
    with Inventory.open() as inv:
        [device] = inv.devices()
        latest = inv.latest(device.imei)
        assert latest is not None and latest.source == "apply"
        [entry] = [e for e in latest.entries if e.sec_tag == 4242]
        assert entry.not_after == not_after
        assert all(e.not_after is None for e in latest.entries if e.sec_tag != 4242)  # not from the manifest

    code, out, _ = _run("inventory", "drift", str(manifest), "--days", "30", "--json")
    assert code == ExitCode.VERIFICATION
    [problem] = json.loads(out)["devices"][0]["problems"]
    assert problem["kind"] == "expiring" and problem["sec_tag"] == 4242
    code, out, _ = _run("inventory", "drift", str(manifest), "--days", "5", "--json")
    assert code == 0 and json.loads(out)["devices_drifted"] == 0

    code, _, err = _run("--port", path, "apply", str(manifest))  # unchanged: still known from the manifest
    assert code == 0, err
    code, _, err = _run("--port", path, "list")  # a plain list carries the expiry forward (same digest)
    assert code == 0, err
    with Inventory.open() as inv:
        latest = inv.latest(device.imei)
        assert latest is not None and latest.source == "live"
        assert [e.not_after for e in latest.entries if e.sec_tag == 4242] == [not_after]


def test_list_expiry_asks_certexpiry(sim_pty: tuple[SimModem, str], tmp_path: Path) -> None:
    _, path = sim_pty
    pem, not_after = _root_ca(20)
    (tmp_path / "ca.pem").write_bytes(pem)
    code, _, err = _run("--port", path, "write", "77", "root-ca", str(tmp_path / "ca.pem"))
    assert code == 0, err
    code, _, err = _run("--port", path, "list", "--expiry")
    assert code == 0, err
    with Inventory.open() as inv:
        [device] = inv.devices()
        latest = inv.latest(device.imei)
        assert latest is not None
        certs = [e for e in latest.entries if e.type in (0, 1)]
        assert [(e.sec_tag, e.not_after) for e in certs] == [(77, not_after)]
        assert all(e.not_after is None for e in latest.entries if e.type not in (0, 1))


def test_list_expiry_on_old_firmware_only_warns(make_sim: Callable[..., SimModem]) -> None:
    sim = make_sim(profile="1.0.3")
    with sim.serve_pty() as path:
        code, _, err = _run("--port", path, "list", "--expiry")
    assert code == 0
    assert "needs firmware >= 1.3" in err
    with Inventory.open() as inv:
        latest = inv.latest(inv.devices()[0].imei)
        assert latest is not None and all(e.not_after is None for e in latest.entries)


class _RefusingDevice:
    def __init__(self, code: int) -> None:
        self.code = code
        self.asked: list[tuple[int, int]] = []

    def expiry(self, sec_tag: int, type: int) -> CertExpiry:
        self.asked.append((sec_tag, type))
        if sec_tag == 2:
            raise ModemError(self.code)
        when = datetime(2030, 1, 1, tzinfo=UTC)
        return CertExpiry(sec_tag=sec_tag, type=type, serial="01", not_before=when, not_after=when)


def test_device_expiries_refusals_are_notes() -> None:
    entries = [
        StoredEntry(1, 0, DIGEST_A),
        StoredEntry(2, 1, DIGEST_B),
        StoredEntry(2, 2, DIGEST_B),
        StoredEntry(3, 0, DIGEST_A),
    ]
    dev = _RefusingDevice(513)  # not found for one entry: keep asking the others
    found, notes = device_expiries(dev, entries)
    assert set(found) == {(1, 0), (3, 0)} and len(notes) == 1 and "2,1" in notes[0]
    assert (2, 2) not in dev.asked  # never a key
    dev = _RefusingDevice(50)  # the command itself is unknown: stop asking
    found, notes = device_expiries(dev, entries)
    assert set(found) == {(1, 0)} and dev.asked[-1] == (2, 1) and "not supported" in notes[0]
    assert not supports_certexpiry(None) and not supports_certexpiry((1, 2, 9)) and supports_certexpiry((1, 3, 0))


class _CountingDevice(_RefusingDevice):
    def __init__(self) -> None:
        super().__init__(513)
        self.info_reads = 0

    def info(self) -> DeviceInfo:
        self.info_reads += 1
        return INFO


def test_record_list_with_expiry_reads_identity_once(tmp_path: Path) -> None:
    """`list --expiry`: %CERTEXPIRY while the session is open, the recording afterwards (no device access)."""
    dev = _CountingDevice()
    db = str(tmp_path / "inv.db")
    entries = [StoredEntry(1, 0, DIGEST_A), StoredEntry(2, 1, DIGEST_B)]
    expiries, notes = list_expiries(dev, entries, INFO)
    recorded = record_list(INFO, entries, db=db, expiries=expiries)
    assert recorded.id is not None and dev.info_reads == 0 and dev.asked == [(1, 0), (2, 1)] and len(notes) == 1
    with Inventory.open(db) as inv:
        latest = inv.latest(INFO.imei or "")
        assert latest is not None
        assert {(e.sec_tag, e.not_after) for e in latest.entries} == {(1, datetime(2030, 1, 1, tzinfo=UTC)), (2, None)}


def test_expiry_carried_forward_while_digest_unchanged(inv: Inventory) -> None:
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    inv.record_snapshot(
        INFO,
        [StoredEntry(5, 0, DIGEST_A), StoredEntry(6, 1, DIGEST_B)],
        source="live",
        taken_at=t0,
        expiries={(5, 0): when, (6, 1): when},
    )
    inv.record_snapshot(
        INFO, [StoredEntry(5, 0, DIGEST_A), StoredEntry(6, 1, "C" * 64)], source="live", taken_at=t0 + timedelta(days=1)
    )
    latest = inv.latest(INFO.imei or "")
    assert latest is not None
    assert {(e.sec_tag, e.not_after) for e in latest.entries} == {(5, when), (6, None)}  # new content: unknown
    # bulk: expiry learned early in a batch reaches a later snapshot of the same device
    records = [
        SnapshotRecord.build(
            INFO,
            [StoredEntry(7, 0, DIGEST_B)],
            source="import",
            taken_at=t0 + timedelta(days=2),
            expiries={(7, 0): when},
        ),
        SnapshotRecord.build(
            INFO,
            [StoredEntry(7, 0, DIGEST_B), StoredEntry(5, 0, DIGEST_A)],
            source="import",
            taken_at=t0 + timedelta(days=3),
        ),
    ]
    assert inv.record_snapshots_bulk(records) == 2
    latest = inv.latest(INFO.imei or "")
    assert latest is not None
    assert {(e.sec_tag, e.not_after) for e in latest.entries} == {(7, when), (5, when)}  # same digests as before
