"""Result objects of the dashboard: what each page renders and each `/api/...` route returns (`to_json`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from credwarden.inventory.views import iso
from credwarden.types import slot_json, type_name


@dataclass(frozen=True)
class GroupCount:
    """Devices in one health group now, yesterday, and per day over the history window."""

    group: str
    label: str
    count: int
    #: count minus the count at the end of yesterday (None while the history is not known yet)
    change: int | None
    #: one value per day, oldest first, today (live) last; empty while the history is being computed
    history: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "label": self.label,
            "count": self.count,
            "change_since_yesterday": self.change,
            "history": list(self.history),
        }


@dataclass(frozen=True)
class QueueItem:
    """One problem of one device in the needs-action queue."""

    imei: str
    group: str  #: the device's group (its most severe problem)
    kind: str  #: this problem: vanished, missing, changed, unexpected, expired, expiring, unverifiable, silent
    sec_tag: int | None
    type: int | None
    since: datetime | None
    seen_at: datetime | None
    firmware: str | None
    station: str | None
    tls_error: str | None
    tls_explain: str | None
    repair: str

    @property
    def slot(self) -> str:
        if self.sec_tag is None or self.type is None:
            return "device"
        return f"{self.sec_tag}/{type_name(self.type)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "group": self.group,
            "kind": self.kind,
            "sec_tag": self.sec_tag,
            "type": self.type,
            "type_name": None if self.type is None else type_name(self.type),
            "since": iso(self.since),
            "last_seen": iso(self.seen_at),
            "firmware": self.firmware,
            "station": self.station,
            "tls_error": self.tls_error,
            "tls_error_explained": self.tls_explain,
            "repair": self.repair,
        }


@dataclass(frozen=True)
class Breakdown:
    """Devices of one firmware version or one station, per group."""

    key: str | None
    total: int
    groups: dict[str, int]

    @property
    def problems(self) -> int:
        return self.total - self.groups.get("ok", 0)

    @property
    def drift(self) -> int:
        """Devices whose store differs from what it should hold (every group but ok, silent, unverifiable)."""
        return sum(n for g, n in self.groups.items() if g not in ("ok", "silent", "unverifiable"))

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "total": self.total,
            "problems": self.problems,
            "drift": self.drift,
            "groups": dict(self.groups),
        }


@dataclass(frozen=True)
class WeekCount:
    """Devices whose first certificate expires in one week."""

    week: int  #: 0 = the seven days from now
    start: date
    devices: int

    def to_json(self) -> dict[str, Any]:
        return {"week": self.week, "start": self.start.isoformat(), "devices": self.devices}


@dataclass(frozen=True)
class FleetOverview:
    """Everything the overview page shows."""

    generated_at: datetime
    manifest: str | None
    total: int
    groups: tuple[GroupCount, ...]
    history_days: int
    history_status: str  #: ready | computing | failed
    queue_total: int
    page: int
    pages: int
    queue: tuple[QueueItem, ...]
    expired_devices: int
    expiry_weeks: tuple[WeekCount, ...]
    by_firmware: tuple[Breakdown, ...]
    by_station: tuple[Breakdown, ...]
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": iso(self.generated_at),
            "manifest": self.manifest,
            "total_devices": self.total,
            "groups": [g.to_json() for g in self.groups],
            "history": {"days": self.history_days, "status": self.history_status},
            "queue": {
                "total_devices": self.queue_total,
                "page": self.page + 1,
                "pages": self.pages,
                "items": [q.to_json() for q in self.queue],
            },
            "expiry": {"expired_devices": self.expired_devices, "weeks": [w.to_json() for w in self.expiry_weeks]},
            "by_firmware": [b.to_json() for b in self.by_firmware],
            "by_station": [b.to_json() for b in self.by_station],
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


@dataclass(frozen=True)
class SlotStatus:
    """One slot of a device now: what it holds against what the manifest expects."""

    sec_tag: int
    type: int
    state: str  #: ok, missing, vanished, changed, unexpected, expiring, expired, unverifiable
    sha256: str | None
    expected: tuple[str, ...]  #: acceptable digests (empty: presence only, or not in the manifest)
    in_manifest: bool
    not_after: datetime | None
    since: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "state": self.state,
            "sha256": self.sha256,
            "expected_sha256": list(self.expected),
            "in_manifest": self.in_manifest,
            "not_after": iso(self.not_after),
            "since": iso(self.since),
        }


@dataclass(frozen=True)
class SlotChange:
    """What happened to one slot at one observation."""

    sec_tag: int
    type: int
    change: str  #: appeared | vanished | changed
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "change": self.change,
            "sha256_before": self.before,
            "sha256_after": self.after,
        }


@dataclass(frozen=True)
class TimelineEvent:
    """One observation of a device (snapshot, apply run or field report), newest first on the page."""

    at: datetime
    kind: str  #: factory-apply | apply-run | list | import | report
    source: str  #: the inventory's name for it: apply | live | import | report | apply_run
    station: str | None
    firmware: str | None
    firmware_before: str | None  #: set when the firmware changed at this observation
    reboot: bool  #: uptime went down since the previous report
    entries: int | None
    changes: tuple[SlotChange, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "kind": self.kind,
            "source": self.source,
            "station": self.station,
            "firmware": self.firmware,
            "firmware_changed_from": self.firmware_before,
            "reboot": self.reboot,
            "entries": self.entries,
            "changes": [c.to_json() for c in self.changes],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class DeviceDetail:
    """Everything the device page shows."""

    imei: str
    uuid: str | None
    model: str | None
    firmware: str | None
    first_seen: datetime
    last_seen: datetime
    last_report_at: datetime | None
    group: str
    manifest: str | None
    slots: tuple[SlotStatus, ...]
    problems: tuple[QueueItem, ...]
    timeline: tuple[TimelineEvent, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "uuid": self.uuid,
            "model": self.model,
            "firmware": self.firmware,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "last_report_at": iso(self.last_report_at),
            "group": self.group,
            "manifest": self.manifest,
            "slots": [s.to_json() for s in self.slots],
            "problems": [p.to_json() for p in self.problems],
            "timeline": [t.to_json() for t in self.timeline],
        }
