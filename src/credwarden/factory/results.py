"""Per-device result rows of a batch and the exit code that summarises them.

The JSON shape of `DeviceResult.to_json()` is a documented, stable schema (README "Factory line"):
`{"port", "imei", "uuid", "ok", "status", "actions", "elapsed_s", "bytes_out", "bytes_in", "error"}`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from credwarden.errors import ExitCode

#: Action statuses that mean the device was changed.
CHANGED_STATUSES = frozenset({"written", "deleted", "generated"})


class Stage(StrEnum):
    """Where a device is in its session (shown in the live view, one line per change in plain output)."""

    QUEUED = "queued"
    DETECT = "detect"
    PLAN = "plan"
    WRITE = "write"
    KEYGEN = "keygen"
    VERIFY = "verify"
    RECORD = "record"
    DONE = "done"
    FAILED = "failed"


class Status(StrEnum):
    """Final outcome of one device."""

    APPLIED = "applied"  #: changes written and verified
    UNCHANGED = "unchanged"  #: already in the desired state: nothing written
    NO_ANSWER = "no_answer"  #: the port opened but nothing answered within the detect timeout
    UNREACHABLE = "unreachable"  #: the port could not be opened
    TIMEOUT = "timeout"  #: the per-device time budget ran out
    REFUSED = "refused"  #: the modem answered ERROR / +CME ERROR
    VERIFY_FAILED = "verify_failed"  #: the state after writing differs from the plan
    INVALID = "invalid"  #: this device's input (templated files, manifest) was rejected before sending
    FAILED = "failed"  #: anything else

    @property
    def ok(self) -> bool:
        return self in (Status.APPLIED, Status.UNCHANGED)

    @property
    def reached(self) -> bool:
        """True when a device answered at all (exit code 8 means: none did)."""
        return self not in (Status.NO_ANSWER, Status.UNREACHABLE)


@dataclass
class DeviceResult:
    """The result row of one device in a batch (never contains secret content)."""

    port: str
    status: Status
    imei: str | None = None
    uuid: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    bytes_out: int = 0
    bytes_in: int = 0
    error: str | None = None
    #: not_after of the certificates the apply wrote or found identical, for the inventory (not part of the JSON row)
    expiries: dict[tuple[int, int], datetime] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def writes(self) -> int:
        """Actions that changed the device (written / deleted / generated)."""
        return sum(1 for a in self.actions if a.get("status") in CHANGED_STATUSES)

    def to_json(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "imei": self.imei,
            "uuid": self.uuid,
            "ok": self.ok,
            "status": self.status.value,
            "actions": self.actions,
            "elapsed_s": round(self.elapsed_s, 3),
            "bytes_out": self.bytes_out,
            "bytes_in": self.bytes_in,
            "error": self.error,
        }


@dataclass(frozen=True)
class BatchSummary:
    """Counts over a batch and the process exit code (0 all ok / 1 some failed / 8 none reached)."""

    total: int
    ok: int
    applied: int
    unchanged: int
    failed: int
    reached: int
    by_status: dict[str, int]

    @classmethod
    def of(cls, results: list[DeviceResult]) -> BatchSummary:
        counts = Counter(r.status.value for r in results)
        return cls(
            total=len(results),
            ok=sum(1 for r in results if r.ok),
            applied=counts.get(Status.APPLIED.value, 0),
            unchanged=counts.get(Status.UNCHANGED.value, 0),
            failed=sum(1 for r in results if not r.ok),
            reached=sum(1 for r in results if r.status.reached),
            by_status=dict(sorted(counts.items())),
        )

    @property
    def exit_code(self) -> ExitCode:
        if self.reached == 0:
            return ExitCode.NONE_REACHED
        if self.failed:
            return ExitCode.FAILURE
        return ExitCode.OK

    def describe(self) -> str:
        """One human line, e.g. `16 devices: 15 ok (3 applied, 12 unchanged), 1 failed (no_answer 1)`."""
        text = f"{self.total} device{'s' if self.total != 1 else ''}: {self.ok} ok"
        text += f" ({self.applied} applied, {self.unchanged} unchanged)"
        if self.failed:
            bad = ", ".join(f"{k} {v}" for k, v in self.by_status.items() if not Status(k).ok)
            text += f", {self.failed} failed ({bad})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "reached": self.reached,
            "by_status": self.by_status,
            "exit_code": int(self.exit_code),
        }
