"""Findings that `doctor` reports, and the observations its rules look at (frozen, JSON-ready, no secrets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from credwarden.errors import ExitCode
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.types import type_name


class Severity(StrEnum):
    """How bad a finding is. Only `error` makes `doctor` exit non-zero."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what is wrong (or worth knowing) and how to fix it."""

    severity: Severity
    code: str  #: stable identifier, e.g. `firmware.placeholder-digests`
    title: str
    detail: str
    fix: str | None = None
    sec_tag: int | None = None
    type: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
            "sec_tag": self.sec_tag,
            "type": self.type,
            "type_name": type_name(self.type) if self.type is not None else None,
        }


@dataclass(frozen=True)
class ReadCheck:
    """Read-back of one readable entry (type 0/4): what came back compared with the list line."""

    sec_tag: int
    type: int
    listed_sha: str | None
    length: int | None  #: bytes of content received; None when the read failed
    content_sha: str | None  #: SHA-256 (upper hex) of the content received
    complete_pem: bool | None  #: the content ends with a complete PEM block (None: not PEM / not read)
    error: str | None = None  #: "timeout", "+CME ERROR: 23", ...
    valid_certificate: bool | None = None  #: root CA content parses as X.509 certificates (None: not checked)


@dataclass(frozen=True)
class PowerOffWarningProbe:
    """Result of probing the power-off warning without writing anything."""

    state: str  #: "active" | "inactive" | "unknown"
    method: str  #: e.g. "AT%XPOFWARN?", "read probe"
    detail: str = ""


@dataclass(frozen=True)
class ExpiryCheck:
    """Validity period of one certificate (`%CERTEXPIRY` or parsed from read-back)."""

    sec_tag: int
    type: int
    not_before: datetime
    not_after: datetime
    source: str  #: "%CERTEXPIRY" | "read-back"


@dataclass(frozen=True)
class ManifestCheck:
    """One manifest entry compared with the device (from the provisioning plan)."""

    sec_tag: int
    type: int
    status: str  #: "ok" | "missing" | "different" | "truncated" | "unverifiable"
    detail: str = ""


@dataclass(frozen=True)
class Observations:
    """Everything `doctor` saw on one device; the rules are pure functions over this."""

    info: DeviceInfo
    entries: tuple[StoredEntry, ...]
    reads: tuple[ReadCheck, ...] = ()
    power_off_warning: PowerOffWarningProbe | None = None
    expiries: tuple[ExpiryCheck, ...] = ()
    manifest: tuple[ManifestCheck, ...] | None = None
    probe_errors: tuple[str, ...] = ()  #: probes that could not be run (already redacted)


@dataclass(frozen=True)
class DoctorReport:
    """Findings for one device, errors first."""

    info: DeviceInfo
    findings: tuple[Finding, ...]
    entries: int
    checked_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    @property
    def exit_code(self) -> ExitCode:
        """0 when no error-level finding, 1 otherwise."""
        return ExitCode.FAILURE if self.errors else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.info.to_json(),
            "checked_at": self.checked_at.isoformat(),
            "entries": self.entries,
            "summary": {
                "errors": self.errors,
                "warnings": self.warnings,
                "info": sum(1 for f in self.findings if f.severity is Severity.INFO),
            },
            "findings": [f.to_json() for f in self.findings],
            "exit_code": int(self.exit_code),
            **self.extra,
        }
