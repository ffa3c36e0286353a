"""The on-device key flow against an in-memory device: issue, verify, idempotent rerun, replace, write_ca.

(The same flow over a real pty against the simulator is in test_factory_batch_sim.py.)
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.ca import LocalCA, chains_to
from credwarden.creds.csr import parse_keygen_response
from credwarden.errors import UsageError, ValidationError, VerificationError
from credwarden.models import KeygenResult, StoredEntry
from credwarden.provision.keygen import ensure_client_certificate, issued_cert_path
from credwarden.provision.manifest import KeygenTable, load_manifest
from credwarden.sim.keygen import make_keygen_response

IMEI = "352656100367872"
UUID = "50363154-3931-44f0-8022-121b6401627d"


class MemoryDevice:
    """Just enough of `Device` for the flow: a store of (tag, type) -> content, keys generated on 'keygen'."""

    dialect = "at_client"

    def __init__(self) -> None:
        self.store: dict[tuple[int, int], bytes] = {}
        self.keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        self.identity = ec.generate_private_key(ec.SECP256R1())
        self.corrupt_writes = False
        self.calls: list[str] = []

    def list(self, sec_tag: int | None = None, type: int | None = None) -> list[StoredEntry]:
        out = []
        for (tag, code), content in sorted(self.store.items()):
            if (sec_tag is None or tag == sec_tag) and (type is None or code == type):
                out.append(StoredEntry(tag, code, hashlib.sha256(content).hexdigest().upper()))
        return out

    def write(self, sec_tag: int, type: int, content: bytes, password: str | None = None) -> None:
        self.calls.append(f"write {sec_tag},{type}")
        self.store[(sec_tag, type)] = content + (b"x" if self.corrupt_writes else b"")

    def delete(self, sec_tag: int, type: int) -> None:
        self.calls.append(f"delete {sec_tag},{type}")
        del self.store[(sec_tag, type)]
        if type == 2:
            del self.keys[sec_tag]

    def keygen(self, sec_tag: int, attributes: str | None = None) -> KeygenResult:
        self.calls.append(f"keygen {sec_tag} {attributes}")
        assert (sec_tag, 2) not in self.store, "CME 519: key exists"
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[sec_tag] = key
        self.store[(sec_tag, 2)] = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        text = make_keygen_response(
            key, sec_tag=sec_tag, device_uuid=uuid.UUID(UUID), identity_key=self.identity, attributes=attributes
        )
        return parse_keygen_response(sec_tag, text)


@pytest.fixture()
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA.generate(tmp_path / "ca", "Factory Test CA")


def _spec(tmp_path: Path, **kw: object) -> KeygenTable:
    values: dict[str, object] = {
        "sec_tag": 42,
        "ca_cert": tmp_path / "ca/ca.pem",
        "ca_key": tmp_path / "ca/ca-key.pem",
        "subject": "CN=nrf-{imei}",
    }
    values.update(kw)
    return KeygenTable.model_validate(values)


def _public_der(key: object) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER,  # type: ignore[attr-defined]
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def test_issue_then_rerun_is_a_no_op(tmp_path: Path, ca: LocalCA) -> None:
    dev = MemoryDevice()
    out = tmp_path / "issued"
    first = ensure_client_certificate(dev, _spec(tmp_path, write_ca=True), ca, imei=IMEI, uuid=UUID, out_dir=out)
    assert first.changed
    assert [a["op"] for a in first.actions] == ["keygen", "write", "write"]
    cert = first.certificate
    assert chains_to(cert, ca.certificate)
    assert _public_der(cert.public_key()) == _public_der(dev.keys[42].public_key())  # the modem's own key
    assert first.device_id == f"nrf-{IMEI}"
    assert issued_cert_path(out, IMEI, 42).read_bytes() == dev.store[(42, 1)]
    assert (42, 0) in dev.store

    dev.calls.clear()
    second = ensure_client_certificate(dev, _spec(tmp_path, write_ca=True), ca, imei=IMEI, uuid=UUID, out_dir=out)
    assert not second.changed and dev.calls == []
    assert [a["op"] for a in second.actions] == ["skip", "skip"]
    assert second.certificate.serial_number == cert.serial_number


def test_key_without_matching_certificate_is_replaced(tmp_path: Path, ca: LocalCA) -> None:
    dev = MemoryDevice()
    out = tmp_path / "issued"
    ensure_client_certificate(dev, _spec(tmp_path), ca, imei=IMEI, uuid=UUID, out_dir=out)
    old_key = _public_der(dev.keys[42].public_key())
    issued_cert_path(out, IMEI, 42).unlink()  # the record of what was issued is lost
    again = ensure_client_certificate(dev, _spec(tmp_path), ca, imei=IMEI, uuid=UUID, out_dir=out)
    assert again.changed
    assert [a["op"] for a in again.actions] == ["delete", "delete", "keygen", "write"]
    assert _public_der(dev.keys[42].public_key()) != old_key

    issued_cert_path(out, IMEI, 42).unlink()
    with pytest.raises(UsageError, match="replace_key"):
        ensure_client_certificate(dev, _spec(tmp_path, replace_key=False), ca, imei=IMEI, uuid=UUID, out_dir=out)


def test_other_ca_or_expired_certificate_is_reissued(tmp_path: Path, ca: LocalCA) -> None:
    dev = MemoryDevice()
    out = tmp_path / "issued"
    ensure_client_certificate(dev, _spec(tmp_path), ca, imei=IMEI, uuid=UUID, out_dir=out)
    other = LocalCA.generate(tmp_path / "other", "Other CA")
    moved = ensure_client_certificate(dev, _spec(tmp_path), other, imei=IMEI, uuid=UUID, out_dir=out)
    assert moved.changed and chains_to(moved.certificate, other.certificate)
    later = datetime.now(UTC) + timedelta(days=400)
    renewed = ensure_client_certificate(dev, _spec(tmp_path), other, imei=IMEI, uuid=UUID, out_dir=out, now=later)
    assert renewed.changed


def test_corrupted_write_fails_verification(tmp_path: Path, ca: LocalCA) -> None:
    dev = MemoryDevice()
    dev.corrupt_writes = True
    with pytest.raises(VerificationError, match="expected"):
        ensure_client_certificate(dev, _spec(tmp_path), ca, imei=IMEI, uuid=UUID, out_dir=tmp_path / "o")


def test_subject_placeholders(tmp_path: Path) -> None:
    assert _spec(tmp_path).attributes_for(IMEI, None) == f"CN=nrf-{IMEI}"
    assert _spec(tmp_path, subject=None).attributes_for(IMEI, UUID) is None
    with pytest.raises(ValidationError, match="unknown placeholder"):
        _spec(tmp_path, subject="CN={serial}").attributes_for(IMEI, UUID)
    with pytest.raises(ValidationError, match="UUID"):
        _spec(tmp_path, subject="CN={uuid}").attributes_for(IMEI, None)


def test_keygen_tables_load_from_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[credential]]\nsec_tag = 1\ntype = "root-ca"\nfile = "ca.pem"\n'
        '[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\n'
        'validity_days = 30\nsubject = "CN={imei}"\n'
    )
    loaded = load_manifest(manifest)
    (spec,) = (t.resolved(loaded.base_dir) for t in loaded.spec.keygen)
    assert spec.ca_cert == tmp_path / "ca/ca.pem" and spec.validity_days == 30
    manifest.write_text("[[keygen]]\nsec_tag = 42\nca_cert = 'a'\n")
    with pytest.raises(ValidationError, match=r"keygen\[0\]\.ca_key"):
        load_manifest(manifest)
    manifest.write_text(
        "[[keygen]]\nsec_tag = 1\nca_cert = 'a'\nca_key = 'b'\n[[keygen]]\nsec_tag = 1\nca_cert = 'a'\nca_key = 'b'\n"
    )
    with pytest.raises(ValidationError, match="names sec_tag 1"):
        load_manifest(manifest)


def test_issued_certificate_is_a_client_certificate(tmp_path: Path, ca: LocalCA) -> None:
    dev = MemoryDevice()
    outcome = ensure_client_certificate(
        dev, _spec(tmp_path, validity_days=10), ca, imei=IMEI, uuid=UUID, out_dir=tmp_path / "o"
    )
    cert = outcome.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 10
