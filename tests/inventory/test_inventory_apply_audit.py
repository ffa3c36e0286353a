"""apply records its run, list records a snapshot, audit and drift judge them with apply's rules (sim on a pty)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.errors import ExitCode
from credwarden.inventory import Inventory
from credwarden.sim import SimModem

runner = CliRunner()


def _root_ca(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _manifest(tmp_path: Path, name: str, pem: bytes) -> Path:
    (tmp_path / f"{name}.pem").write_bytes(pem)
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[[credential]]\nsec_tag = 4242\ntype = "root-ca"\nfile = "{name}.pem"\n')
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_apply_list_audit_drift(sim_pty: tuple[SimModem, str], tmp_path: Path) -> None:
    _, path = sim_pty
    good = _manifest(tmp_path, "good", _root_ca("Good Root"))
    other = _manifest(tmp_path, "other", _root_ca("Other Root"))

    code, out, err = _run("--port", path, "apply", str(good), "--json")
    assert code == 0, err + out
    with Inventory.open() as inv:
        [device] = inv.devices()
        snapshots, runs = inv.history(device.imei)
        [run] = runs
        assert run.ok and run.manifest_digest == hashlib.sha256(good.read_bytes()).hexdigest()
        assert run.actions[0]["sec_tag"] == 4242 and run.actions[0]["type"] == 0
        assert [s.source for s in snapshots] == ["apply"]  # the store as the run left it

    code, _, err = _run("--port", path, "list")
    assert code == 0, err

    code, out, err = _run("audit", str(good), "--from-inventory", device.imei[:8], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "inventory" and data["in_sync"] and data["plan"]["counts"]["skip"] == 1

    code, out, err = _run("--port", path, "audit", str(good), "--json")
    assert code == 0, err
    assert json.loads(out)["source"] == "device"

    code, out, _ = _run("audit", str(other), "--from-inventory", device.imei, "--json")
    assert code == ExitCode.VERIFICATION and json.loads(out)["plan"]["counts"]["write"] == 1

    code, out, _ = _run("inventory", "drift", str(good), "--json")
    assert code == 0 and json.loads(out)["devices_drifted"] == 0
    code, out, _ = _run("inventory", "drift", str(other), "--json")
    assert code == ExitCode.VERIFICATION
    assert [p["kind"] for p in json.loads(out)["devices"][0]["problems"]] == ["mismatch"]


def test_apply_no_record(sim_pty: tuple[SimModem, str], tmp_path: Path) -> None:
    _, path = sim_pty
    good = _manifest(tmp_path, "good", _root_ca("Good Root"))
    code, _, err = _run("--port", path, "apply", str(good), "--no-record")
    assert code == 0, err
    with Inventory.open() as inv:
        assert inv.devices() == []
