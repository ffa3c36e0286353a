"""On-device key flow: `%KEYGEN` on the modem -> CSR -> certificate signed by a local CA -> written back as the
client certificate (type 1) of the same sec_tag and verified by digest. The private key never leaves the modem.

Manifest tables (read from the same TOML file as the `[[credential]]` tables):

```toml
[[keygen]]
sec_tag = 42
ca_cert = "ca/ca.pem"                 # relative to the manifest
ca_key = "ca/ca.key"
ca_key_password_env = "CA_KEY_PASSWORD" # optional: the CA key password comes from the environment
validity_days = 365
subject = "CN={imei}"                 # CSR attributes; {imei} / {uuid} expand; omit for the modem's default (UUID)
write_ca = true                       # also store the CA certificate as root-ca (type 0) in the same sec_tag
replace_key = true                    # a key without a matching issued certificate is deleted and regenerated
```

Idempotence: the certificate issued to a device is kept in `OUT_DIR/<imei>/<sec_tag>-client-cert.pem`. A tag is
left alone when it holds a key and a client certificate whose listed digest matches that issued certificate, the
certificate chains to the CA and has not expired (an expired one is re-issued with a new key). The key cannot be
read back; the stored certificate was issued for it, so its presence plus the matching certificate is the proof.
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
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError as PydanticValidationError

from credwarden.creds.encoding import Dialect, canonical_pem, match_digest, predicted_sha256
from credwarden.errors import ProtocolError, UsageError, ValidationError, VerificationError
from credwarden.models import KeygenResult, StoredEntry
from credwarden.provision.manifest import KeygenTable
from credwarden.tomlfile import load_toml
from credwarden.types import CredType

#: The `[[keygen]]` table model: one model, defined with the manifest (provision.manifest.KeygenTable).
KeygenSpec = KeygenTable


def parse_keygen_tables(data: Mapping[str, Any], *, base_dir: Path, source: str) -> list[KeygenSpec]:
    """Validate the `keygen` array of a parsed manifest; relative CA paths resolve against `base_dir`."""
    raw = data.get("keygen", [])
    if not isinstance(raw, list):
        raise ValidationError("'keygen' must be an array of tables ([[keygen]])", source=source)
    specs: list[KeygenSpec] = []
    for index, table in enumerate(raw):
        try:
            spec = KeygenSpec.model_validate(table)
        except PydanticValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "table"
            message = str(err["msg"]).removeprefix("Value error, ")
            raise ValidationError(f"keygen[{index}].{where}: {message}", source=source) from None
        specs.append(spec.resolved(base_dir))
    tags = [s.sec_tag for s in specs]
    if len(set(tags)) != len(tags):
        raise ValidationError("two [[keygen]] tables name the same sec_tag", source=source)
    return specs


def load_keygen_specs(path: Path) -> list[KeygenSpec]:
    """The `[[keygen]]` tables of a manifest file (empty list when it has none)."""
    return parse_keygen_tables(load_toml(path, "manifest"), base_dir=path.parent, source=str(path))


# -- the CA -----------------------------------------------------------------------------------------------


class CertificateIssuer(Protocol):
    """What the flow needs from a local CA (`credwarden.creds.ca.LocalCA` satisfies it)."""

    certificate: x509.Certificate

    def sign_csr(self, csr: x509.CertificateSigningRequest, *, validity_days: int = ...) -> x509.Certificate: ...


def chains_to(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when `cert` was issued and signed by `ca`."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def cert_pem(cert: x509.Certificate) -> bytes:
    return canonical_pem(cert.public_bytes(serialization.Encoding.PEM))


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


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


def _valid_now(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and now < cert.not_valid_after_utc


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
    value = dev.dialect
    if value not in ("at_client", "shell", "slm"):
        raise ProtocolError(f"unknown dialect {value!r}")
    return value  # type: ignore[return-value]


def ensure_client_certificate(
    dev: KeygenDevice,
    spec: KeygenSpec,
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
    ca_pem = cert_pem(ca_cert)
    path = issued_cert_path(out_dir, device_key, tag)
    actions: list[dict[str, Any]] = []
    stored = {e.type: e for e in dev.list(tag)}
    issued = _load_issued(path)
    key_entry = stored.get(CredType.CLIENT_KEY)
    cert_entry = stored.get(CredType.CLIENT_CERT)

    current = (
        issued is not None
        and key_entry is not None
        and cert_entry is not None
        and cert_entry.sha256 is not None
        and not cert_entry.placeholder_digest
        and match_digest(cert_pem(issued), cert_entry.sha256) is not None
        and chains_to(issued, ca_cert)
        and _valid_now(issued, now)
    )
    if current:
        assert issued is not None
        actions.append(
            {
                "op": "skip",
                "sec_tag": tag,
                "type": int(CredType.CLIENT_CERT),
                "type_name": CredType.CLIENT_CERT.cli_name,
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
                            "sec_tag": tag,
                            "type": int(cred_type),
                            "type_name": cred_type.cli_name,
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
                "sec_tag": tag,
                "type": int(CredType.CLIENT_KEY),
                "type_name": CredType.CLIENT_KEY.cli_name,
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
        content = cert_pem(certificate)
        _write_atomic(path, content)  # kept before writing: a rerun after a failed write starts over cleanly
        note("write")
        dev.write(tag, int(CredType.CLIENT_CERT), content)
        note("verify")
        sha = _verify_stored(dev, tag, CredType.CLIENT_CERT, content)
        actions.append(
            {
                "op": "write",
                "sec_tag": tag,
                "type": int(CredType.CLIENT_CERT),
                "type_name": CredType.CLIENT_CERT.cli_name,
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
                    "sec_tag": tag,
                    "type": int(CredType.ROOT_CA),
                    "type_name": CredType.ROOT_CA.cli_name,
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
                    "sec_tag": tag,
                    "type": int(CredType.ROOT_CA),
                    "type_name": CredType.ROOT_CA.cli_name,
                    "sha256": sha,
                    "verified": True,
                }
            )
            changed = True
    return KeygenOutcome(tag, changed, certificate, path, actions)
