"""Who a simulated modem is: IMEI, device UUID and SIM card (ICCID, IMSI).

A simulator with a state file is one board: its identity is generated once, when the state file is created,
and kept in it (so three boards with three state files are three devices). Without a state file the
identity is `DEFAULT_IDENTITY`, the same every run, so tests can rely on it. Explicit values (`--imei`,
`--device-uuid`) override either; when a state file is created they become that board's identity.
The modem build UUID is not here: it belongs to the firmware (`FirmwareProfile.build_uuid`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from typing import Any

from credwarden.types import is_valid_imei, luhn_check_digit

__all__ = ["DEFAULT_IDENTITY", "Identity", "generate_identity", "is_valid_imei", "luhn_check_digit"]

_IMEI_TAC = "35265610"  #: type allocation code of the simulated boards (the one in Nordic's +CGSN example)
_ICCID_PREFIX = "8988280"  #: 89 (telecom) + 882 (international networks) + issuer
_IMSI_PREFIX = "90128"  #: MCC 901 (international) + MNC 28


def _is_valid_iccid(iccid: str) -> bool:
    return 18 <= len(iccid) <= 20 and iccid.isdigit() and iccid.isascii() and luhn_check_digit(iccid[:-1]) == iccid[-1]


def canonical_uuid(value: str, label: str = "device UUID") -> str:
    """`value` as a lower-case 8-4-4-4-12 UUID; ValueError naming `label` when it is not a UUID."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{label} {value!r} is not a UUID") from None


@dataclass(frozen=True)
class Identity:
    """The identifiers of one simulated board (validated on creation)."""

    imei: str  #: 15 digits, Luhn check digit (`AT+CGSN`)
    device_uuid: str  #: lower-case 8-4-4-4-12 (`AT%DEVICEUUID`, attestation token, default %KEYGEN CN)
    iccid: str  #: SIM card number, 18-20 digits with a Luhn check digit (`AT%XICCID`)
    imsi: str  #: subscriber identity, 15 digits (`AT+CIMI`)

    def __post_init__(self) -> None:
        if not is_valid_imei(self.imei):
            raise ValueError(f"IMEI {self.imei!r} is not 15 digits with a valid Luhn check digit")
        object.__setattr__(self, "device_uuid", canonical_uuid(self.device_uuid))
        if not _is_valid_iccid(self.iccid):
            raise ValueError(f"ICCID {self.iccid!r} is not 18-20 digits with a valid Luhn check digit")
        if not (len(self.imsi) == 15 and self.imsi.isdigit() and self.imsi.isascii()):
            raise ValueError(f"IMSI {self.imsi!r} is not 15 digits")

    def with_overrides(self, *, imei: str | None = None, device_uuid: str | None = None) -> Identity:
        """This identity with the explicitly given values replacing its own."""
        changes = {key: value for key, value in (("imei", imei), ("device_uuid", device_uuid)) if value is not None}
        return replace(self, **changes) if changes else self

    def to_json(self) -> dict[str, str]:
        """The state file's `identity` object."""
        return {"imei": self.imei, "device_uuid": self.device_uuid, "iccid": self.iccid, "imsi": self.imsi}

    @classmethod
    def from_json(cls, data: Any) -> Identity:
        """Inverse of `to_json`; ValueError for anything else."""
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("imei", "device_uuid")):
            raise ValueError("identity must be an object with imei, device_uuid, iccid and imsi strings")
        return cls(imei=data["imei"], device_uuid=data["device_uuid"], iccid=str(data["iccid"]), imsi=str(data["imsi"]))


DEFAULT_IDENTITY = Identity(
    imei=_IMEI_TAC + "036787" + luhn_check_digit(_IMEI_TAC + "036787"),
    device_uuid="50363154-3931-44f0-8022-121b6401627d",
    iccid="890123456701234567" + luhn_check_digit("890123456701234567"),
    imsi="284011234567890",
)


def generate_identity(rng: random.Random | None = None) -> Identity:
    """A new random identity (system randomness unless an `rng` is given, e.g. for a reproducible test)."""
    source = rng if rng is not None else random.SystemRandom()

    def digits(count: int) -> str:
        return "".join(source.choice("0123456789") for _ in range(count))

    imei_body = _IMEI_TAC + digits(6)
    iccid_body = _ICCID_PREFIX + digits(18 - len(_ICCID_PREFIX))
    return Identity(
        imei=imei_body + luhn_check_digit(imei_body),
        device_uuid=str(uuid.UUID(int=source.getrandbits(128), version=4)),
        iccid=iccid_body + luhn_check_digit(iccid_body),
        imsi=_IMSI_PREFIX + digits(15 - len(_IMSI_PREFIX)),
    )
