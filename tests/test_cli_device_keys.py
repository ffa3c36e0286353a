"""CLI keygen / attest / expiry against `sim://` (profile 2.0.2): CSR files in PEM and DER, decoded tokens,
types given by name or code."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.sim.config import SimConfig, profile_for
from credwarden.transport.simulated import inprocess


def _state_device_uuid(state: Path) -> str:
    """The device UUID the simulator generated for (and keeps in) this state file."""
    return str(json.loads(state.read_text())["identity"]["device_uuid"])


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_keygen_writes_pem_or_der_by_option_or_suffix(tmp_path: Path) -> None:
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2"
    pem_path, der_path, forced = tmp_path / "csr.pem", tmp_path / "csr.der", tmp_path / "csr.bin"
    code, out, err = run("--port", port, "keygen", "16842753", "--out", str(pem_path), "--json")
    assert code == 0, err
    data = json.loads(out)
    device_uuid = _state_device_uuid(tmp_path / "state.json")
    csr = x509.load_pem_x509_csr(pem_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == f"CN={device_uuid}" == data["subject"]
    assert data["device_uuid"] == device_uuid and data["cose"]
    assert run("--port", port, "keygen", "16842754", "--out", str(der_path))[0] == 0
    assert x509.load_der_x509_csr(der_path.read_bytes()).is_signature_valid
    assert run("--port", port, "keygen", "16842755", "-o", str(forced), "--format", "der")[0] == 0
    assert forced.read_bytes()[:1] == b"\x30"
    code, _, err = run("--port", port, "keygen", "16842756", "-o", str(forced), "--format", "txt")
    assert code == 2 and "pem or der" in err


def test_keygen_repairs_the_null_parameter_defect(tmp_path: Path) -> None:
    from credwarden.sim import SimModem

    sim = SimModem(SimConfig(profile="1.3.5", fast=True, keygen_null_param_defect=True))
    try:
        from credwarden.modem.device import Device

        with Device.over(inprocess(sim), mode="at_client") as dev:
            result = dev.keygen(7, attributes="CN=dev-7,O=ACME")
    finally:
        sim.stop()
    assert result.repaired_null_params
    csr = x509.load_pem_x509_csr(result.csr_pem.encode())
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == "O=ACME,CN=dev-7"


def test_attest_and_expiry_with_type_names_and_codes(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Test Root")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=366 + 365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2"
    assert run("--port", port, "write", "300", "root-ca", str(ca))[0] == 0
    for type_text in ("root-ca", "0"):
        code, out, err = run("--port", port, "expiry", "300", type_text, "--json")
        assert code == 0, err
        data = json.loads(out)
        assert (data["sec_tag"], data["type"], data["type_name"]) == (300, 0, "root-ca")
        assert data["not_after"].startswith("2044-12-27")
    code, _, err = run("--port", port, "expiry", "301", "root-ca")
    assert code == 4 and "513" in err
    code, out, err = run("--port", port, "attest", "--json")
    assert code == 0, err
    token = json.loads(out)
    assert token["device_uuid"] == _state_device_uuid(tmp_path / "state.json")
    assert token["firmware_uuid"] == profile_for("2.0.2").build_uuid
    assert token["device_type"] is not None and token["device_type_name"]
