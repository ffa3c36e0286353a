"""Read-side result objects of the inventory (frozen, JSON-ready; the `--json` schema of `inventory` commands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credwarden.types import slot_json


def iso(value: datetime | None) -> str | None:
    """UTC timestamps in JSON: ISO 8601 with a `Z`."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EntryView:
    """One stored credential of a snapshot."""

    sec_tag: int
    type: int
    sha256: str | None
    placeholder: bool
    not_after: datetime | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.sec_tag, self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "sha256": self.sha256,
            "placeholder_digest": self.placeholder,
            "not_after": iso(self.not_after),
        }


@dataclass(frozen=True)
class DeviceSummary:
    """A device row with its latest snapshot's headline figures."""

    imei: str
    uuid: str | None
    model: str | None
    firmware: str | None
    first_seen: datetime
    last_seen: datetime
    snapshots: int
    latest_snapshot_id: int | None
    latest_taken_at: datetime | None
    latest_entries: int

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "uuid": self.uuid,
            "model": self.model,
            "firmware": self.firmware,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "snapshots": self.snapshots,
            "latest_snapshot_id": self.latest_snapshot_id,
            "latest_taken_at": iso(self.latest_taken_at),
            "latest_entries": self.latest_entries,
        }


@dataclass(frozen=True)
class SnapshotView:
    """A snapshot with its entries."""

    id: int
    imei: str
    taken_at: datetime
    source: str
    station: str | None
    host: str | None
    firmware: str | None
    entries: tuple[EntryView, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "imei": self.imei,
            "taken_at": iso(self.taken_at),
            "source": self.source,
            "station": self.station,
            "host": self.host,
            "firmware": self.firmware,
            "entries": [e.to_json() for e in self.entries],
        }


@dataclass(frozen=True)
class ChangedEntry:
    """An entry whose digest differs between two snapshots."""

    sec_tag: int
    type: int
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            **slot_json(self.sec_tag, self.type),
            "sha256_before": self.before,
            "sha256_after": self.after,
        }


@dataclass(frozen=True)
class SnapshotDiff:
    """What appeared, vanished and changed from one snapshot to another."""

    imei: str
    from_id: int | None
    from_taken_at: datetime | None
    to_id: int
    to_taken_at: datetime
    appeared: tuple[EntryView, ...]
    vanished: tuple[EntryView, ...]
    changed: tuple[ChangedEntry, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.appeared or self.vanished or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "from": {"id": self.from_id, "taken_at": iso(self.from_taken_at)},
            "to": {"id": self.to_id, "taken_at": iso(self.to_taken_at)},
            "appeared": [e.to_json() for e in self.appeared],
            "vanished": [e.to_json() for e in self.vanished],
            "changed": [c.to_json() for c in self.changed],
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class HistoryItem:
    """One snapshot in a device's history, with its changes against the one before."""

    id: int
    taken_at: datetime
    source: str
    station: str | None
    host: str | None
    firmware: str | None
    entries: int
    appeared: int
    vanished: int
    changed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "snapshot",
            "id": self.id,
            "taken_at": iso(self.taken_at),
            "source": self.source,
            "station": self.station,
            "host": self.host,
            "firmware": self.firmware,
            "entries": self.entries,
            "appeared": self.appeared,
            "vanished": self.vanished,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class ApplyRunView:
    """One recorded apply run with its actions."""

    id: int
    imei: str
    station: str | None
    host: str | None
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    manifest_digest: str | None
    actions: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "apply",
            "id": self.id,
            "imei": self.imei,
            "station": self.station,
            "host": self.host,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "ok": self.ok,
            "manifest_digest": self.manifest_digest,
            "actions": list(self.actions),
        }


def diff_entries(imei: str, before: SnapshotView | None, after: SnapshotView) -> SnapshotDiff:
    """Compare two snapshots of one device (before may be None: everything appeared)."""
    old = {e.key: e for e in before.entries} if before else {}
    new = {e.key: e for e in after.entries}
    appeared = tuple(new[k] for k in sorted(new.keys() - old.keys()))
    vanished = tuple(old[k] for k in sorted(old.keys() - new.keys()))
    changed = tuple(
        ChangedEntry(k[0], k[1], old[k].sha256, new[k].sha256)
        for k in sorted(new.keys() & old.keys())
        if old[k].sha256 != new[k].sha256
    )
    return SnapshotDiff(
        imei=imei,
        from_id=before.id if before else None,
        from_taken_at=before.taken_at if before else None,
        to_id=after.id,
        to_taken_at=after.taken_at,
        appeared=appeared,
        vanished=vanished,
        changed=changed,
        unchanged=len(new.keys() & old.keys()) - len(changed),
    )
