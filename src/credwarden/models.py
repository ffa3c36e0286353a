"""Result objects of device operations (frozen, JSON-ready). Shared by the API, CLI, provisioning and inventory.

None of them ever holds secret content: private keys and PSKs are represented by length and digest only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from credwarden.types import is_placeholder_digest, slot_json, type_name


@dataclass(frozen=True)
class DeviceInfo:
    """Identity and state of one modem, as `info` reports it."""

    imei: str | None
    model: str | None
    firmware: str | None  #: raw `AT+CGMR` string, e.g. `mfw_nrf91x1_2.0.2`
    firmware_version: tuple[int, int, int] | None  #: parsed from `firmware`, None when unparseable
    uuid: str | None  #: device UUID where the firmware offers it (attestation / %DEVICEUUID)
    modem_build_uuid: str | None  #: `%XMODEMUUID` (the firmware build UUID)
    cfun: int | None
    dialect: str  #: "at_client" | "shell" | "slm"
    port: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["firmware_version"] = ".".join(map(str, self.firmware_version)) if self.firmware_version else None
        return data


@dataclass(frozen=True)
class StoredEntry:
    """One `%CMNG: <sec_tag>,<type>,"<sha>"` list line."""

    sec_tag: int
    type: int
    sha256: str | None  #: upper-case hex as the modem printed it; None when the firmware printed none

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    @property
    def placeholder_digest(self) -> bool:
        """Old firmware prints the type byte x32 instead of a SHA-256 (modem-behaviour.md#digests)."""
        return self.sha256 is not None and is_placeholder_digest(self.sha256, self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            "sec_tag": self.sec_tag,
            "type": self.type,
            "type_name": self.type_name,
            "sha256": self.sha256,
            "placeholder_digest": self.placeholder_digest,
        }


@dataclass(frozen=True)
class ReadResult:
    """`%CMNG=2` answer: the entry and its content, byte-exact (only readable, non-secret types)."""

    entry: StoredEntry
    content: bytes

    def to_json(self) -> dict[str, Any]:
        data = self.entry.to_json()
        data["content"] = self.content.decode("ascii", errors="replace")
        data["length"] = len(self.content)
        return data


@dataclass(frozen=True)
class DeleteOutcome:
    """What happened to one entry during `delete-all`."""

    sec_tag: int
    type: int
    deleted: bool
    error: str | None = None  #: e.g. "+CME ERROR: 514: no access ..."
    code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "deleted": self.deleted,
            "error": self.error,
            "code": self.code,
        }


@dataclass(frozen=True)
class CoseSign1:
    """A decoded COSE_Sign1 structure (RFC 9052) as the modem emits it."""

    protected: dict[int, Any]
    unprotected: dict[int, Any]
    payload: bytes | None
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "protected": {str(k): _jsonable(v) for k, v in self.protected.items()},
            "unprotected": {str(k): _jsonable(v) for k, v in self.unprotected.items()},
            "payload": self.payload.hex() if self.payload is not None else None,
            "signature": self.signature.hex(),
        }


@dataclass(frozen=True)
class KeygenResult:
    """`%KEYGEN` answer: the CSR (repaired if needed) and the COSE part, decoded."""

    sec_tag: int
    csr_der: bytes  #: DER with the NULL-parameter signature algorithm defect repaired
    csr_pem: str
    subject: str  #: RFC 4514 subject, e.g. `CN=50363154-3931-44f0-8022-121b6401627d`
    public_key_pem: str
    repaired_null_params: bool  #: True when the modem's CSR carried the NULL-parameter defect
    cose_raw: bytes | None  #: the raw COSE_Sign1 bytes as received (kept)
    cose: CoseSign1 | None
    device_uuid: str | None  #: from the COSE payload
    message_type: int | None  #: 9 = CSR message v1, 8 = public key message v2
    csr_sha256_matches: bool | None  #: COSE payload digest == SHA-256(CSR DER as received)

    def to_json(self) -> dict[str, Any]:
        return {
            "sec_tag": self.sec_tag,
            "csr_pem": self.csr_pem,
            "subject": self.subject,
            "public_key_pem": self.public_key_pem,
            "repaired_null_params": self.repaired_null_params,
            "cose": self.cose.to_json() if self.cose else None,
            "device_uuid": self.device_uuid,
            "message_type": self.message_type,
            "csr_sha256_matches": self.csr_sha256_matches,
        }


@dataclass(frozen=True)
class AttestationToken:
    """`%ATTESTTOKEN` answer, decoded (modem-behaviour.md#attesttoken)."""

    raw: str  #: the token text between the quotes
    message_type: int  #: 1 = device identity message v1
    device_uuid: str
    device_type: int
    device_type_name: str
    firmware_uuid: str
    nonce: bytes
    cose: CoseSign1 | None

    def to_json(self) -> dict[str, Any]:
        return {
            "message_type": self.message_type,
            "device_uuid": self.device_uuid,
            "device_type": self.device_type,
            "device_type_name": self.device_type_name,
            "firmware_uuid": self.firmware_uuid,
            "nonce": self.nonce.hex(),
            "cose": self.cose.to_json() if self.cose else None,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class CertExpiry:
    """`%CERTEXPIRY` answer (modem-behaviour.md#certexpiry)."""

    sec_tag: int
    type: int
    serial: str
    not_before: datetime
    not_after: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


@dataclass
class SessionStats:
    """Counters a session keeps (for progress display, reports and benchmarks)."""

    commands: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    nvm_operations: int = 0  #: writes + deletes + keygens the session sent
    urcs: list[str] = field(default_factory=list)
    reboots: int = 0  #: restarts noticed: boot banners, or settings found reset (silent at_client reboots)
    lost_answers: int = 0  #: answers whose final result never came (noticed by silence or by the timeout)
    retries: int = 0  #: read-only commands sent again after a lost answer and a resync


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
