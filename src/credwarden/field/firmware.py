"""What a modem firmware version implies for credential handling (modem-behaviour.md#firmware-generations)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class FirmwareFacts:
    """Capabilities and known problems of one firmware; None where no source says."""

    raw: str | None
    family: str  #: "nrf9160" | "nrf91x1" | "nrf9151-ntn" | "unknown"
    version: tuple[int, int, int] | None
    real_digests: bool | None  #: False: placeholder digests before 1.3 (modem-behaviour.md#placeholder-digests)
    file_system_issues: bool  #: credentials reported to vanish before mfw 1.0.0 (modem-behaviour.md#field-reports)
    validates_certificates: bool | None  #: CME 527 on bad types 0/1 (2.0.2+, NTN) (modem-behaviour.md#content-rules)
    has_power_off_warning: (
        bool | None
    )  #: %XPOFWARN / CME 528 (9160 1.3.2+, 91x1) (modem-behaviour.md#power-off-warning)
    has_tls_decrypt_tags: bool  #: 2147483648-2147483667 (91x1 2.0.0+) (modem-behaviour.md#sec_tags)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown"


def parse_version(raw: str | None) -> tuple[int, int, int] | None:
    """First `X.Y.Z` in a `+CGMR` string (`mfw_nrf9160_1.3.5` -> (1, 3, 5))."""
    if not raw:
        return None
    found = _VERSION_RE.search(raw)
    return (int(found.group(1)), int(found.group(2)), int(found.group(3))) if found else None


def firmware_family(raw: str | None) -> str:
    """Chip family named in a `+CGMR` string."""
    text = (raw or "").lower()
    if "ntn" in text:
        return "nrf9151-ntn"
    if any(chip in text for chip in ("nrf91x1", "nrf9161", "nrf9151", "nrf9131")):
        return "nrf91x1"
    if "nrf9160" in text:
        return "nrf9160"
    return "unknown"


def firmware_facts(raw: str | None, version: tuple[int, int, int] | None = None) -> FirmwareFacts:
    """Derive the facts for `raw` (`AT+CGMR`); `version` overrides the parsed one when the caller has it."""
    family = firmware_family(raw)
    ver = version or parse_version(raw)
    if family == "unknown" and ver is not None:
        family = "nrf91x1" if ver >= (2, 0, 0) else "nrf9160"
    real: bool | None
    validates: bool | None
    pofwarn: bool | None
    if family == "nrf9160":
        if ver is None:
            real, pofwarn = None, None
        else:
            real = False if ver < (1, 3, 0) else (True if ver >= (1, 3, 2) else None)
            pofwarn = ver >= (1, 3, 2)
        validates = False
        decrypt = False
    elif family == "nrf91x1":
        real, pofwarn = True, True
        validates = None if ver is None else ver >= (2, 0, 2)
        decrypt = True
    elif family == "nrf9151-ntn":
        real, pofwarn, validates, decrypt = True, True, True, True
    else:
        real, pofwarn, validates, decrypt = None, None, None, False
    fs_issues = family == "nrf9160" and ver is not None and ver < (1, 0, 0)
    return FirmwareFacts(raw, family, ver, real, fs_issues, validates, pofwarn, decrypt)
