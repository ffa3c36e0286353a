"""What a field report says, once parsed: header fields, the credential listing, expiries and the raw blocks.

Only digests travel in a report (never credential content); the model has no field that could hold any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from credwarden.types import type_name

#: Largest report accepted, in bytes (the device builds it in a buffer of this size).
MAX_REPORT_BYTES = 16 * 1024

ListStatus = Literal["complete", "incomplete", "absent"]
ReportForm = Literal["cw1", "sms"]


@dataclass(frozen=True)
class ReportEntry:
    """One credential the device listed: tag, type and digest.

    `sha256` is the full upper-case digest, None when it did not travel (the SMS form carries only
    `sha256_prefix`, the first 6 base64url characters of the digest) or the firmware printed none.
    """

    sec_tag: int
    type: int
    sha256: str | None
    sha256_prefix: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.sec_tag, self.type)

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            "sec_tag": self.sec_tag,
            "type": self.type,
            "type_name": self.type_name,
            "sha256": self.sha256,
            "sha256_prefix": self.sha256_prefix,
        }


@dataclass(frozen=True)
class Listing:
    """The credential list a report carries.

    `complete`: the list ended OK (for a filtered list: complete for the sec_tags in `coverage`).
    `incomplete`: it ended in an error (`-7` = E2BIG, `CME 513`, `ERROR`) or was cut (`truncated`): an
    incomplete list says nothing about entries it does not show - never read it as "vanished".
    """

    status: Literal["complete", "incomplete"]
    entries: tuple[ReportEntry, ...]
    #: None: the whole store was listed; else the (sec_tag, type or None) filters of `AT%CMNG=1,<tag>[,<type>]`
    coverage: frozenset[tuple[int, int | None]] | None = None
    error: str | None = None
    #: SMS form: the hash of the whole list (full digests), see `credwarden.report.sms.list_hash`
    list_hash: str | None = None

    def covers(self, sec_tag: int, type_code: int) -> bool:
        """Whether this listing speaks for the slot (sec_tag, type)."""
        if self.coverage is None:
            return True
        return (sec_tag, None) in self.coverage or (sec_tag, type_code) in self.coverage

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "coverage": None if self.coverage is None else sorted(([t, y] for t, y in self.coverage), key=str),
            "entries": [e.to_json() for e in self.entries],
            "list_hash": self.list_hash,
        }


@dataclass(frozen=True)
class TlsFailure:
    """A TLS connect failure the device reported for a sec_tag (`tls=1000:-95`)."""

    sec_tag: int
    error: int

    def __str__(self) -> str:
        return f"{self.sec_tag}:{self.error}"


@dataclass(frozen=True)
class Block:
    """One command of a CW/1 report with its raw answer lines and final result (None: the payload ended first)."""

    command: str
    lines: tuple[str, ...]
    final: str | None
    line_no: int = 0

    @property
    def ok(self) -> bool:
        return self.final == "OK"


@dataclass(frozen=True)
class CertValidity:
    """A `%CERTEXPIRY` answer carried by the report."""

    sec_tag: int
    type: int
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class FieldReport:
    """A parsed, validated field report (CW/1 or its one-line SMS form)."""

    imei: str
    seq: int
    uptime_s: int | None
    app_version: str | None
    firmware: str | None
    tls_failures: tuple[TlsFailure, ...]
    #: header keys this version does not interpret, in order (kept, never refused)
    extra: tuple[tuple[str, str], ...]
    listing: Listing | None
    validities: tuple[CertValidity, ...] = ()
    blocks: tuple[Block, ...] = ()
    form: ReportForm = "cw1"
    size: int = 0
    #: things the parser ignored but the user may want to know (an unreadable %CERTEXPIRY answer, ...)
    notes: tuple[str, ...] = field(default=())

    @property
    def list_status(self) -> ListStatus:
        return "absent" if self.listing is None else self.listing.status

    @property
    def tls_text(self) -> str | None:
        """TLS failures normalised as `sec_tag:error,...` (None when there are none)."""
        return ",".join(str(f) for f in self.tls_failures) or None

    @property
    def extra_text(self) -> str | None:
        return " ".join(f"{k}={v}" for k, v in self.extra) or None

    def expiries(self) -> dict[tuple[int, int], datetime]:
        """notAfter per (sec_tag, type) from the `%CERTEXPIRY` answers."""
        return {(v.sec_tag, v.type): v.not_after for v in self.validities}

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "seq": self.seq,
            "uptime_s": self.uptime_s,
            "app_version": self.app_version,
            "firmware": self.firmware,
            "tls_errors": self.tls_text,
            "extra": dict(self.extra),
            "form": self.form,
            "size": self.size,
            "list_status": self.list_status,
            "listing": None if self.listing is None else self.listing.to_json(),
            "expiries": [
                {"sec_tag": v.sec_tag, "type": v.type, "serial": v.serial, "not_after": v.not_after.isoformat()}
                for v in self.validities
            ],
            "notes": list(self.notes),
        }
