"""Writing snapshots and apply runs: one code path for one record and for bulk batches, on either backend.

Called inside one write transaction (the caller owns it, see `writers`), so a batch is stored completely or
not at all. Each device row keeps `latest_snapshot_id` / `previous_snapshot_id` by `taken_at` (ties: higher
id), so an old log imported late never hides the newest state. A certificate's known not_after is carried
forward to a later snapshot listing the same digest (the digest identifies the content).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credwarden.inventory.records import ApplyRecord, SnapshotRecord, hostname
from credwarden.inventory.writers import Writer

#: (sec_tag, type, sha256) -> native not_after
_Known = dict[tuple[int, int, str], Any]

SNAPSHOT_COLUMNS = ("id", "device_id", "taken_at", "station", "host", "source", "firmware")
ENTRY_COLUMNS = ("snapshot_id", "sec_tag", "type", "sha256", "placeholder", "not_after")
RUN_COLUMNS = ("id", "device_id", "station", "host", "started_at", "finished_at", "ok", "manifest_digest")
ACTION_COLUMNS = ("run_id", "sec_tag", "type", "action", "status", "reason")


@dataclass
class DeviceState:
    """A device row while a batch is written (times in the backend's native form)."""

    id: int
    first_seen: Any
    last_seen: Any
    uuid: str | None
    model: str | None
    firmware: str | None
    latest: tuple[Any, int] | None  #: (taken_at, id) of the newest snapshot
    previous: tuple[Any, int] | None  #: ... and of the one before it
    known_expiry: _Known = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeviceState:
        return cls(
            id=row["id"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            uuid=row["uuid"],
            model=row["model"],
            firmware=row["firmware"],
            latest=(row["latest_taken"], row["latest_id"]) if row["latest_id"] is not None else None,
            previous=(row["previous_taken"], row["previous_id"]) if row["previous_id"] is not None else None,
        )

    @property
    def latest_id(self) -> int | None:
        return self.latest[1] if self.latest else None

    @property
    def previous_id(self) -> int | None:
        return self.previous[1] if self.previous else None

    def seen(self, first: Any, last: Any) -> None:
        self.first_seen = min(self.first_seen, first)
        self.last_seen = max(self.last_seen, last)
        self.changed = True

    def identity(self, rec: SnapshotRecord) -> None:
        """Newer identity details win; a record without them keeps the known ones."""
        self.uuid = rec.uuid or self.uuid
        self.model = rec.model or self.model
        self.firmware = rec.firmware or self.firmware

    def observe(self, rec: SnapshotRecord, taken: Any, snapshot_id: int) -> None:
        """A new snapshot of this device: it becomes the latest, the previous, or neither (an older one)."""
        key = (taken, snapshot_id)
        self.seen(taken, taken)
        if self.latest is None or key > self.latest:
            self.previous, self.latest = self.latest, key
            self.identity(rec)
        elif self.previous is None or key > self.previous:
            self.previous = key


def write_snapshots(w: Writer, records: Sequence[SnapshotRecord]) -> list[int]:
    """Store `records` (snapshots with their entries) and update their devices; return the snapshot ids."""
    if not records:
        return []
    states = _devices(w, records)
    by_snapshot = {s.latest_id: s for s in states.values() if s.latest_id is not None}
    for row in w.known_expiries(sorted(by_snapshot)):
        by_snapshot[row["snapshot_id"]].known_expiry[(row["sec_tag"], row["type"], row["sha256"])] = row["not_after"]
    ids = w.new_ids("snapshots", len(records))
    snapshot_rows: list[tuple[Any, ...]] = []
    entry_rows: list[tuple[Any, ...]] = []
    for snap_id, rec in zip(ids, records, strict=True):
        state = states[rec.imei]
        taken = w.time(rec.taken_at)
        snapshot_rows.append((snap_id, state.id, taken, rec.station, rec.host, rec.source, rec.firmware))
        known = state.known_expiry
        for e in rec.entries:
            not_after = w.time(e.not_after)
            if e.sha256 is not None and not e.placeholder:
                if not_after is None:
                    not_after = known.get((e.sec_tag, e.type, e.sha256)) if known else None
                else:
                    known[(e.sec_tag, e.type, e.sha256)] = not_after
            entry_rows.append((snap_id, e.sec_tag, e.type, e.sha256, e.placeholder, not_after))
        state.observe(rec, taken, snap_id)
    w.insert("snapshots", SNAPSHOT_COLUMNS, snapshot_rows)
    w.insert("entries", ENTRY_COLUMNS, entry_rows)
    w.update_devices([s for s in states.values() if s.changed])
    return ids


def write_apply(w: Writer, rec: SnapshotRecord, run: ApplyRecord) -> int:
    """Store an apply run (the device row is created if new); return the run id."""
    state = _devices(w, [rec])[rec.imei]
    started = w.time(run.started_at)
    state.seen(started, w.time(run.finished_at) or started)
    state.identity(rec)
    run_id = w.new_ids("apply_runs", 1)[0]
    host = rec.host or hostname()
    w.insert(
        "apply_runs",
        RUN_COLUMNS,
        [(run_id, state.id, rec.station, host, started, w.time(run.finished_at), run.ok, run.manifest_digest)],
    )
    w.insert(
        "apply_actions",
        ACTION_COLUMNS,
        [(run_id, a.sec_tag, a.type, a.action, a.status, a.reason) for a in run.actions],
    )
    w.update_devices([state])
    return run_id


def _devices(w: Writer, records: Sequence[SnapshotRecord]) -> dict[str, DeviceState]:
    """The state of every device of the batch (created when new; first seen = its earliest record)."""
    first: dict[str, Any] = {}
    for rec in records:
        when = w.time(rec.taken_at)
        known = first.get(rec.imei)
        first[rec.imei] = when if known is None else min(known, when)
    return {row["imei"]: DeviceState.from_row(row) for row in w.devices(first)}
