"""On-device keys for `[[keygen]]` tables: `%KEYGEN` on the modem -> CSR -> certificate signed by a local CA ->
written back as the client certificate (type 1) of the same sec_tag and verified by digest. The private key never
leaves the modem. `apply` runs these tables (one board or a factory batch alike); the table model is
`provision.manifest.KeygenTable`.

* `prepare_keygen(manifest)` loads every table's CA (key password from the environment) before anything is sent;
* `keygen_row(...)` is the table's plan row (the pure decision is `provision.plan.decide_keygen`);
* `ensure_client_certificate(...)` makes one sec_tag hold a modem key and a certificate issued for it.

Idempotence: the certificate issued to a device is kept in `OUT_DIR/<imei>/<sec_tag>-client-cert.pem` (default
`OUT_DIR`: `issued/` next to the manifest). A tag is left alone when it holds a key and a client certificate whose
listed digest matches that issued certificate, the certificate chains to the CA and has not expired (an expired one
is re-issued with a new key). The key cannot be read back; the stored certificate was issued for it, so its presence
plus the matching certificate is the proof.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from credwarden.creds.ca import LocalCA, certificate_pem, chains_to, common_name, valid_at
from credwarden.creds.encoding import match_digest, predicted_sha256
from credwarden.errors import ProtocolError, UsageError, ValidationError, VerificationError
from credwarden.models import DeviceInfo, KeygenResult, StoredEntry
from credwarden.provision.manifest import KeygenTable, Manifest
from credwarden.provision.plan import KeygenRow, decide_keygen
from credwarden.types import CredType, Dialect, as_dialect, slot_json

# -- the CA -----------------------------------------------------------------------------------------------


class CertificateIssuer(Protocol):
    """What the flow needs from a local CA (`credwarden.creds.ca.LocalCA` satisfies it)."""

    certificate: x509.Certificate

    def sign_csr(self, csr: x509.CertificateSigningRequest, *, validity_days: int = ...) -> x509.Certificate: ...


# -- the device side ----------------------------------------------------------------------------------------


class KeygenDevice(Protocol):
    """The `Device` operations the flow uses (credwarden.modem.device.Device satisfies it)."""

    @property
    def dialect(self) -> str: ...

    def list(self, sec_tag: int | None = None, type: int | None = None) -> list[StoredEntry]: ...

    def write(self, sec_tag: int, type: int, content: bytes, password: str | None = None) -> None: ...

    def delete(self, sec_tag: int, type: int) -> None: ...

    def keygen(self, sec_tag: int, attributes: str | None = None) -> KeygenResult: ...


@dataclass
class KeygenOutcome:
    """What the flow did for one `[[keygen]]` table."""

    sec_tag: int
    changed: bool
    certificate: x509.Certificate
    cert_path: Path
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def device_id(self) -> str | None:
        """The certificate's CN (nRF Cloud's device id)."""
        return common_name(self.certificate)


Progress = Callable[[str], None]


def issued_cert_path(out_dir: Path, device_key: str, sec_tag: int) -> Path:
    """Where the certificate issued to a device for a sec_tag is kept."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", device_key)
    return out_dir / safe / f"{sec_tag}-client-cert.pem"


def _load_issued(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ValidationError(f"not a PEM certificate ({exc})", source=str(path)) from None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _verify_stored(dev: KeygenDevice, sec_tag: int, cred_type: CredType, content: bytes) -> str:
    """List the entry back and compare its digest with the one predicted for `content`."""
    expected = predicted_sha256(content, _dialect(dev))
    entries = dev.list(sec_tag, int(cred_type))
    sha = entries[0].sha256 if entries else None
    if not entries:
        raise VerificationError(f"sec_tag {sec_tag} {cred_type.cli_name}: not listed after writing it")
    if sha is None or sha.upper() != expected:
        raise VerificationError(
            f"sec_tag {sec_tag} {cred_type.cli_name}: the modem lists digest {sha}, "
            f"expected {expected} for what was written"
        )
    return expected


def _dialect(dev: KeygenDevice) -> Dialect:
    try:
        return as_dialect(dev.dialect)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


@dataclass(frozen=True)
class KeygenSetup:
    """What `[[keygen]]` tables need at apply time, loaded once (a factory batch shares it across boards)."""

    out_dir: Path  #: where issued certificates are kept, per device
    issuers: Mapping[int, CertificateIssuer]  #: sec_tag -> the CA of its table


def default_out_dir(manifest: Manifest) -> Path:
    """`issued/` next to the manifest."""
    return manifest.base_dir / "issued"


def prepare_keygen(manifest: Manifest, out_dir: Path | None = None) -> KeygenSetup | None:
    """Load the CA of every `[[keygen]]` table (ValidationError before anything is sent); None without tables."""
    tables = [t.resolved(manifest.base_dir) for t in manifest.spec.keygen]
    if not tables:
        return None
    issuers = {t.sec_tag: LocalCA.load(t.ca_cert, t.ca_key, t.ca_key_password_env) for t in tables}
    return KeygenSetup(out_dir or default_out_dir(manifest), issuers)


def keygen_row(
    table: KeygenTable, entries: list[StoredEntry], info: DeviceInfo, out_dir: Path | None, now: datetime | None
) -> KeygenRow:
    """The plan row of one `[[keygen]]` table, with the certificate issued earlier (`out_dir`) when there is one."""
    issued_pem: bytes | None = None
    valid = False
    device = info.imei or info.uuid
    if out_dir is not None and device:
        try:
            issued = _load_issued(issued_cert_path(out_dir, device, table.sec_tag))
            ca = x509.load_pem_x509_certificate(table.ca_cert.read_bytes())
        except (OSError, ValueError, ValidationError):
            issued = None
        if issued is not None:
            issued_pem = certificate_pem(issued)
            valid = chains_to(issued, ca) and valid_at(issued, now or datetime.now(UTC))
    return decide_keygen(table, entries, issued_pem, valid)


def kept_outcome(table: KeygenTable, info: DeviceInfo, out_dir: Path, reason: str) -> KeygenOutcome | None:
    """The outcome of a table the plan found in sync (nothing sent): its issued certificate, kept as is."""
    device = info.imei or info.uuid
    issued = _load_issued(issued_cert_path(out_dir, device, table.sec_tag)) if device else None
    if device is None or issued is None:
        return None
    step = {
        "op": "skip",
        **slot_json(table.sec_tag, CredType.CLIENT_CERT),
        "reason": reason,
        "serial": format(issued.serial_number, "x"),
    }
    return KeygenOutcome(table.sec_tag, False, issued, issued_cert_path(out_dir, device, table.sec_tag), [step])


def ensure_client_certificate(
    dev: KeygenDevice,
    spec: KeygenTable,
    issuer: CertificateIssuer,
    *,
    imei: str | None,
    uuid: str | None,
    out_dir: Path,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> KeygenOutcome:
    """Make `spec.sec_tag` hold a modem-generated key and a certificate for it issued by `issuer`."""
    note = progress or (lambda _stage: None)
    now = now or datetime.now(UTC)
    device_key = imei or uuid
    if not device_key:
        raise ValidationError(
            "the device reported neither IMEI nor UUID: cannot file its certificate",
            source=f"keygen sec_tag {spec.sec_tag}",
        )
    tag = spec.sec_tag
    ca_cert = issuer.certificate
    ca_pem = certificate_pem(ca_cert)
    path = issued_cert_path(out_dir, device_key, tag)
    actions: list[dict[str, Any]] = []
    listed = dev.list(tag)
    stored = {e.type: e for e in listed}
    issued = _load_issued(path)
    key_entry = stored.get(CredType.CLIENT_KEY)
    valid = issued is not None and chains_to(issued, ca_cert) and valid_at(issued, now)
    row = decide_keygen(spec, listed, certificate_pem(issued) if issued is not None else None, valid)
    current = row.decision == "skip"
    if current:
        assert issued is not None
        actions.append(
            {
                "op": "skip",
                **slot_json(tag, CredType.CLIENT_CERT),
                "reason": "key present; client certificate matches the one issued by the CA",
                "serial": format(issued.serial_number, "x"),
            }
        )
        changed = False
        certificate = issued
    else:
        if key_entry is not None:
            if not spec.replace_key:
                raise UsageError(
                    f"sec_tag {tag} holds a private key without a matching certificate issued by "
                    f"this CA (see {path}); set replace_key = true to generate a new key"
                )
            note("delete")
            for cred_type in (CredType.CLIENT_CERT, CredType.CLIENT_KEY):
                if cred_type in stored:
                    dev.delete(tag, int(cred_type))
                    actions.append(
                        {
                            "op": "delete",
                            **slot_json(tag, cred_type),
                            "reason": "replaced by a new key pair",
                        }
                    )
        note("keygen")
        result = dev.keygen(tag, spec.attributes_for(imei, uuid))
        if result.csr_sha256_matches is False:
            raise ProtocolError(f"sec_tag {tag}: the KEYGEN COSE digest does not match the CSR it came with")
        actions.append(
            {
                "op": "keygen",
                **slot_json(tag, CredType.CLIENT_KEY),
                "subject": result.subject,
                "repaired_csr": result.repaired_null_params,
            }
        )
        csr = x509.load_der_x509_csr(result.csr_der)
        certificate = issuer.sign_csr(csr, validity_days=spec.validity_days)
        if certificate.public_key() != csr.public_key() or not chains_to(certificate, ca_cert):
            raise VerificationError(
                f"sec_tag {tag}: the issued certificate does not carry the modem's key or does not chain to the CA"
            )
        content = certificate_pem(certificate)
        _write_atomic(path, content)  # kept before writing: a rerun after a failed write starts over cleanly
        note("write")
        dev.write(tag, int(CredType.CLIENT_CERT), content)
        note("verify")
        sha = _verify_stored(dev, tag, CredType.CLIENT_CERT, content)
        actions.append(
            {
                "op": "write",
                **slot_json(tag, CredType.CLIENT_CERT),
                "sha256": sha,
                "verified": True,
                "serial": format(certificate.serial_number, "x"),
                "file": str(path),
            }
        )
        changed = True

    if spec.write_ca:
        ca_entry = stored.get(CredType.ROOT_CA)
        if (
            ca_entry is not None
            and ca_entry.sha256 is not None
            and not ca_entry.placeholder_digest
            and match_digest(ca_pem, ca_entry.sha256) is not None
        ):
            actions.append(
                {
                    "op": "skip",
                    **slot_json(tag, CredType.ROOT_CA),
                    "reason": "CA certificate already stored",
                }
            )
        else:
            note("write")
            dev.write(tag, int(CredType.ROOT_CA), ca_pem)
            note("verify")
            sha = _verify_stored(dev, tag, CredType.ROOT_CA, ca_pem)
            actions.append(
                {
                    "op": "write",
                    **slot_json(tag, CredType.ROOT_CA),
                    "sha256": sha,
                    "verified": True,
                }
            )
            changed = True
    return KeygenOutcome(tag, changed, certificate, path, actions)
