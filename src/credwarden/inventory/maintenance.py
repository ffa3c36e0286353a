"""Inventory hygiene: forget a device entirely, prune old snapshots. Each runs in the caller's one transaction.

Pruning never removes what the inventory's own reports stand on: each device keeps its newest snapshots (at
least the latest two: drift compares them for lost credentials, and the history starts at the oldest kept
one). Apply runs are small and stay: they are the record of what was done to a device; field reports stay
too (a report whose snapshot was pruned keeps its header, without the link). Forgetting a device removes
its field reports, alerts and slot states with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select, update

from credwarden.errors import UsageError
from credwarden.inventory.queries import find_device
from credwarden.inventory.schema import Alert, ApplyAction, ApplyRun, Device, Entry, Report, SlotState, Snapshot
from credwarden.inventory.views import iso

#: Snapshots per device that pruning always keeps (the latest and the one drift compares it with).
ALWAYS_KEPT = 2


@dataclass(frozen=True)
class ForgetResult:
    """What forgetting a device removes (or, in a dry run, would remove)."""

    imei: str
    snapshots: int
    entries: int
    apply_runs: int
    apply_actions: int
    reports: int
    alerts: int
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "forgotten": not self.dry_run,
            "snapshots": self.snapshots,
            "entries": self.entries,
            "apply_runs": self.apply_runs,
            "apply_actions": self.apply_actions,
            "reports": self.reports,
            "alerts": self.alerts,
        }


@dataclass(frozen=True)
class PruneResult:
    """What pruning removes (or, in a dry run, would remove)."""

    cutoff: datetime
    keep_last: int
    devices: int
    snapshots: int
    entries: int
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": iso(self.cutoff),
            "keep_last": self.keep_last,
            "pruned": not self.dry_run,
            "devices": self.devices,
            "snapshots": self.snapshots,
            "entries": self.entries,
        }


def forget_device(conn: Connection, ref: str, *, dry_run: bool = False) -> ForgetResult:
    """Delete a device (IMEI / UUID / unique prefix) with its snapshots, entries, apply runs and actions."""
    device = find_device(conn, ref)
    snapshots = select(Snapshot.id).where(Snapshot.device_id == device.id)
    runs = select(ApplyRun.id).where(ApplyRun.device_id == device.id)
    result = ForgetResult(
        imei=device.imei,
        snapshots=_count(conn, select(func.count()).select_from(Snapshot).where(Snapshot.device_id == device.id)),
        entries=_count(conn, select(func.count()).select_from(Entry).where(Entry.snapshot_id.in_(snapshots))),
        apply_runs=_count(conn, select(func.count()).select_from(ApplyRun).where(ApplyRun.device_id == device.id)),
        apply_actions=_count(conn, select(func.count()).select_from(ApplyAction).where(ApplyAction.run_id.in_(runs))),
        reports=_count(conn, select(func.count()).select_from(Report).where(Report.device_id == device.id)),
        alerts=_count(conn, select(func.count()).select_from(Alert).where(Alert.device_id == device.id)),
        dry_run=dry_run,
    )
    if dry_run:
        return result
    conn.execute(
        update(Device)
        .where(Device.id == device.id)
        .values(latest_snapshot_id=None, previous_snapshot_id=None, last_report_id=None)
    )
    conn.execute(delete(Entry).where(Entry.snapshot_id.in_(snapshots)))
    conn.execute(delete(ApplyAction).where(ApplyAction.run_id.in_(runs)))
    conn.execute(delete(Report).where(Report.device_id == device.id))
    conn.execute(delete(Alert).where(Alert.device_id == device.id))
    conn.execute(delete(SlotState).where(SlotState.device_id == device.id))
    conn.execute(delete(Snapshot).where(Snapshot.device_id == device.id))
    conn.execute(delete(ApplyRun).where(ApplyRun.device_id == device.id))
    conn.execute(delete(Device).where(Device.id == device.id))
    return result


def prune_snapshots(
    conn: Connection,
    *,
    older_than_days: float,
    keep_last: int = ALWAYS_KEPT,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Delete snapshots taken before now - `older_than_days`, except each device's newest `keep_last`
    (never fewer than the latest two)."""
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 days or more")
    if keep_last < 1:
        raise UsageError("--keep-last must be at least 1")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    doomed = _doomed(cutoff, max(keep_last, ALWAYS_KEPT))
    ids = doomed.subquery()
    row = conn.execute(select(func.count(), func.count(func.distinct(ids.c.device_id))).select_from(ids)).one()
    entries = _count(conn, select(func.count()).select_from(Entry).where(Entry.snapshot_id.in_(select(ids.c.id))))
    result = PruneResult(
        cutoff=cutoff,
        keep_last=max(keep_last, ALWAYS_KEPT),
        devices=int(row[1]),
        snapshots=int(row[0]),
        entries=entries,
        dry_run=dry_run,
    )
    if dry_run or not result.snapshots:
        return result
    doomed_ids = [r[0] for r in conn.execute(select(ids.c.id))]
    for start in range(0, len(doomed_ids), 500):
        chunk = doomed_ids[start : start + 500]
        conn.execute(update(Report).where(Report.snapshot_id.in_(chunk)).values(snapshot_id=None))
        conn.execute(delete(Entry).where(Entry.snapshot_id.in_(chunk)))
        conn.execute(delete(Snapshot).where(Snapshot.id.in_(chunk)))
    return result


def _doomed(cutoff: datetime, keep: int) -> Select[Any]:
    """(id, device_id) of the snapshots older than `cutoff` beyond each device's newest `keep`."""
    ranked = select(
        Snapshot.id,
        Snapshot.device_id,
        Snapshot.taken_at,
        func.row_number()
        .over(partition_by=Snapshot.device_id, order_by=(Snapshot.taken_at.desc(), Snapshot.id.desc()))
        .label("rank"),
    ).subquery()
    return select(ranked.c.id, ranked.c.device_id).where(ranked.c.taken_at < cutoff, ranked.c.rank > keep)


def _count(conn: Connection, query: Select[Any]) -> int:
    return int(conn.execute(query).scalar() or 0)
