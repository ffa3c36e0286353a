"""Read queries of the inventory: devices, one device by IMEI/UUID/prefix, snapshots, history, diffs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.orm import Session

from credwarden.errors import ValidationError
from credwarden.inventory.errors import UnknownDevice, UnknownSnapshot
from credwarden.inventory.records import check_time
from credwarden.inventory.schema import ApplyAction, ApplyRun, Device, Entry, Snapshot
from credwarden.inventory.views import (
    ApplyRunView,
    DeviceSummary,
    EntryView,
    HistoryItem,
    SnapshotDiff,
    SnapshotView,
    diff_entries,
)


def list_devices(conn: Connection) -> list[DeviceSummary]:
    """Every device with its snapshot count and latest snapshot, ordered by IMEI."""
    snapshot_count = (
        select(func.count(Snapshot.id)).where(Snapshot.device_id == Device.id).correlate(Device).scalar_subquery()
    )
    latest_taken = select(Snapshot.taken_at).where(Snapshot.id == Device.latest_snapshot_id).scalar_subquery()
    entry_count = select(func.count(Entry.id)).where(Entry.snapshot_id == Device.latest_snapshot_id).scalar_subquery()
    query = select(
        Device.imei,
        Device.uuid,
        Device.model,
        Device.firmware,
        Device.first_seen,
        Device.last_seen,
        snapshot_count,
        Device.latest_snapshot_id,
        latest_taken,
        entry_count,
    ).order_by(Device.imei)
    return [
        DeviceSummary(
            imei=r[0],
            uuid=r[1],
            model=r[2],
            firmware=r[3],
            first_seen=r[4],
            last_seen=r[5],
            snapshots=r[6] or 0,
            latest_snapshot_id=r[7],
            latest_taken_at=r[8],
            latest_entries=r[9] or 0,
        )
        for r in conn.execute(query)
    ]


def find_device(conn: Connection, ref: str) -> Device:
    """DEVICE = IMEI, UUID, or a unique prefix of either (case-insensitive for UUIDs)."""
    ref = ref.strip()
    if not ref:
        raise UnknownDevice("empty device reference; give an IMEI, a UUID or a unique prefix")
    with Session(bind=conn, expire_on_commit=False) as session:
        exact = session.scalars(
            select(Device).where(or_(Device.imei == ref, func.lower(Device.uuid) == ref.lower()))
        ).all()
        if len(exact) == 1:
            return exact[0]
        pattern = _like_prefix(ref)
        found = session.scalars(
            select(Device)
            .where(
                or_(
                    Device.imei.like(pattern, escape="\\"),
                    func.lower(Device.uuid).like(pattern.lower(), escape="\\"),
                )
            )
            .order_by(Device.imei)
            .limit(6)
        ).all()
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownDevice(f"no device in the inventory matches {ref!r} (IMEI, UUID or prefix)")
    names = ", ".join(d.imei for d in found[:5]) + (", ..." if len(found) > 5 else "")
    raise UnknownDevice(f"{ref!r} matches several devices ({names}); give more digits")


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def snapshot_view(conn: Connection, snapshot_id: int) -> SnapshotView:
    """One snapshot with its entries."""
    row = conn.execute(
        select(
            Snapshot.id,
            Device.imei,
            Snapshot.taken_at,
            Snapshot.source,
            Snapshot.station,
            Snapshot.host,
            Snapshot.firmware,
        )
        .join(Device, Device.id == Snapshot.device_id)
        .where(Snapshot.id == snapshot_id)
    ).first()
    if row is None:
        raise UnknownSnapshot(f"no snapshot with id {snapshot_id}")
    return SnapshotView(
        id=row[0],
        imei=row[1],
        taken_at=row[2],
        source=row[3],
        station=row[4],
        host=row[5],
        firmware=row[6],
        entries=tuple(_entries(conn, snapshot_id)),
    )


def _entries(conn: Connection, snapshot_id: int) -> list[EntryView]:
    rows = conn.execute(
        select(Entry.sec_tag, Entry.type, Entry.sha256, Entry.placeholder, Entry.not_after)
        .where(Entry.snapshot_id == snapshot_id)
        .order_by(Entry.sec_tag, Entry.type)
    )
    return [EntryView(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]


def snapshot_ids(conn: Connection, device: Device) -> list[tuple[int, datetime]]:
    """The device's snapshots, oldest first (by taken_at, then id)."""
    rows = conn.execute(
        select(Snapshot.id, Snapshot.taken_at)
        .where(Snapshot.device_id == device.id)
        .order_by(Snapshot.taken_at, Snapshot.id)
    )
    return [(r[0], r[1]) for r in rows]


def history(conn: Connection, device: Device) -> list[HistoryItem]:
    """Every snapshot of a device, oldest first, with what changed against the one before."""
    items: list[HistoryItem] = []
    before: SnapshotView | None = None
    for snap_id, _ in snapshot_ids(conn, device):
        view = snapshot_view(conn, snap_id)
        d = diff_entries(device.imei, before, view)
        items.append(
            HistoryItem(
                id=view.id,
                taken_at=view.taken_at,
                source=view.source,
                station=view.station,
                host=view.host,
                firmware=view.firmware,
                entries=len(view.entries),
                appeared=len(d.appeared),
                vanished=len(d.vanished),
                changed=len(d.changed),
            )
        )
        before = view
    return items


def apply_runs(conn: Connection, device: Device) -> list[ApplyRunView]:
    """The device's apply runs, oldest first, with their actions."""
    runs = conn.execute(
        select(
            ApplyRun.id,
            ApplyRun.station,
            ApplyRun.host,
            ApplyRun.started_at,
            ApplyRun.finished_at,
            ApplyRun.ok,
            ApplyRun.manifest_digest,
        )
        .where(ApplyRun.device_id == device.id)
        .order_by(ApplyRun.started_at, ApplyRun.id)
    ).all()
    views = []
    for r in runs:
        actions = conn.execute(
            select(ApplyAction.sec_tag, ApplyAction.type, ApplyAction.action, ApplyAction.status, ApplyAction.reason)
            .where(ApplyAction.run_id == r[0])
            .order_by(ApplyAction.id)
        ).all()
        views.append(
            ApplyRunView(
                id=r[0],
                imei=device.imei,
                station=r[1],
                host=r[2],
                started_at=r[3],
                finished_at=r[4],
                ok=bool(r[5]),
                manifest_digest=r[6],
                actions=tuple(
                    {"sec_tag": a[0], "type": a[1], "action": a[2], "status": a[3], "reason": a[4]} for a in actions
                ),
            )
        )
    return views


def resolve_snapshot(conn: Connection, device: Device, ref: str) -> int:
    """A snapshot of `device` by id, or the newest one taken at or before an ISO time."""
    ref = ref.strip()
    ids = snapshot_ids(conn, device)
    if ref.isdigit():
        wanted = int(ref)
        if any(i == wanted for i, _ in ids):
            return wanted
        raise UnknownSnapshot(f"snapshot {wanted} does not belong to device {device.imei}")
    when = parse_time(ref)
    earlier = [i for i, t in ids if t <= when]
    if not earlier:
        raise UnknownSnapshot(f"device {device.imei} has no snapshot at or before {ref}")
    return earlier[-1]


def parse_time(text: str) -> datetime:
    """ISO 8601 time; `Z` accepted; a time without zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not a snapshot id or an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return check_time(value)


def diff(conn: Connection, device: Device, from_ref: str | None, to_ref: str | None) -> SnapshotDiff:
    """Diff two snapshots of a device; default: the last two (by taken_at)."""
    ids = [i for i, _ in snapshot_ids(conn, device)]
    if not ids:
        raise UnknownSnapshot(f"device {device.imei} has no snapshots")
    to_id = resolve_snapshot(conn, device, to_ref) if to_ref else ids[-1]
    if from_ref:
        from_id: int | None = resolve_snapshot(conn, device, from_ref)
    else:
        pos = ids.index(to_id)
        from_id = ids[pos - 1] if pos > 0 else None
    before = snapshot_view(conn, from_id) if from_id is not None else None
    return diff_entries(device.imei, before, snapshot_view(conn, to_id))
