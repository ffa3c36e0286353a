"""Fleet status and drift: each device's latest snapshot against a manifest, its previous snapshot and the clock.

Computed in SQL over the denormalised `devices.latest_snapshot_id` / `previous_snapshot_id` (one grouped join
over the latest entries plus one anti-join for lost credentials), so the whole fleet is checked in one pass.
Digest equivalence follows provisioning: an entry matches when its digest is the SHA-256 of any common
encoding of the manifest's content (`creds.encoding.equivalent_digests`); placeholder / missing digests prove
nothing and are reported as unverifiable, not as mismatches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, and_, case, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from credwarden.inventory.schema import Device, Entry, Snapshot
from credwarden.inventory.views import iso
from credwarden.types import type_name

Slot = tuple[int, int]


@dataclass(frozen=True)
class ExpectedSlot:
    """One credential the manifest requires: where it may be listed and which digests prove it."""

    sec_tag: int
    type: int
    slots: tuple[Slot, ...]  #: (sec_tag, type) pairs that count as "present" (native TLS: modem and app slot)
    digests: frozenset[str] | None  #: acceptable upper-hex digests; None = presence only (per-device files)

    def label(self) -> str:
        return f"{self.sec_tag}/{type_name(self.type)}"


def expected_from_manifest(path: str | Path) -> tuple[str, list[ExpectedSlot]]:
    """(manifest name, expected slots) using the provisioning manifest loader and equivalence rules.

    Files named per device (`{imei}`, `{uuid}`) cannot be resolved fleet-wide: those entries are checked for
    presence only.
    """
    from credwarden.creds.encoding import equivalent_digests
    from credwarden.provision.manifest import effective_options, load_manifest
    from credwarden.provision.plan import modem_slot
    from credwarden.provision.resolve import resolve_manifest, uses_placeholders

    loaded = load_manifest(path)
    manifest = loaded.spec
    expected: dict[Slot, ExpectedSlot] = {}

    def slots_for(tag: int, code: int, native: bool) -> tuple[Slot, ...]:
        modem = modem_slot(tag, code, native)
        return (modem, (tag, code)) if native else (modem,)

    if uses_placeholders(loaded):
        for table in manifest.credential:
            code = int(table.type)
            native = effective_options(manifest, table).native_tls
            expected[(table.sec_tag, code)] = ExpectedSlot(
                table.sec_tag, code, slots_for(table.sec_tag, code, native), None
            )
        return loaded.name, sorted(expected.values(), key=lambda e: (e.sec_tag, e.type))
    for item in resolve_manifest(loaded):
        code = int(item.type)
        digests = frozenset(d.upper() for d in equivalent_digests(item.credential.content).values())
        expected[(item.sec_tag, code)] = ExpectedSlot(
            item.sec_tag, code, slots_for(item.sec_tag, code, item.options.native_tls), digests
        )
    return loaded.name, sorted(expected.values(), key=lambda e: (e.sec_tag, e.type))


@dataclass(frozen=True)
class Problem:
    """One finding about one credential of one device."""

    kind: str  #: missing | mismatch | unverifiable | lost | expiring | expired
    sec_tag: int
    type: int
    sha256: str | None = None
    not_after: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sec_tag": self.sec_tag,
            "type": self.type,
            "type_name": type_name(self.type),
            "sha256": self.sha256,
            "not_after": iso(self.not_after),
        }


@dataclass
class DeviceStatus:
    """One device's latest state, summarised (the rows behind `drift` and `export`)."""

    imei: str
    uuid: str | None
    firmware: str | None
    latest_snapshot_id: int | None
    taken_at: datetime | None
    entries: int
    problems: list[Problem] = field(default_factory=list)
    #: (sec_tag, type, not_after) of every entry with a known expiry
    expiries: list[tuple[int, int, datetime]] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "uuid": self.uuid,
            "firmware": self.firmware,
            "latest_snapshot_id": self.latest_snapshot_id,
            "taken_at": iso(self.taken_at),
            "entries": self.entries,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(frozen=True)
class DriftReport:
    """Devices whose latest snapshot drifted (lacks / differs from the manifest, lost entries, expiring)."""

    generated_at: datetime
    manifest: str | None
    days: int
    devices_checked: int
    drifted: tuple[DeviceStatus, ...]

    def to_json(self) -> dict[str, Any]:
        kinds = ("missing", "mismatch", "unverifiable", "lost", "expiring", "expired")
        return {
            "generated_at": iso(self.generated_at),
            "manifest": self.manifest,
            "days": self.days,
            "devices_checked": self.devices_checked,
            "devices_drifted": len(self.drifted),
            "totals": {k: sum(d.count(k) for d in self.drifted) for k in kinds},
            "devices": [d.to_json() for d in self.drifted],
        }


@dataclass(frozen=True)
class DeviceCounts:
    """One device's latest state as numbers (CSV and Prometheus exports); aggregated by the database."""

    imei: str
    uuid: str | None
    firmware: str | None
    latest_snapshot_id: int
    taken_at: datetime
    entries: int
    missing: int
    mismatch: int
    unverifiable: int
    lost: int
    expiring: int
    expired: int
    soonest_expiry: datetime | None


@dataclass(frozen=True)
class ExpiryRow:
    """A certificate with a known notAfter in a device's latest snapshot."""

    imei: str
    sec_tag: int
    type: int
    not_after: datetime


def _match(slots: Sequence[Slot]) -> ColumnElement[bool]:
    return or_(*(and_(Entry.sec_tag == tag, Entry.type == code) for tag, code in slots))


def _aggregates(expected: Sequence[ExpectedSlot]) -> list[ColumnElement[Any]]:
    """Per device over its latest entries: count, earliest not_after, then per expected item: listed (0/1), a
    differing digest (or NULL), listed without a digest that proves anything (0/1)."""
    aggregates: list[ColumnElement[Any]] = [func.count(Entry.id), func.min(Entry.not_after)]
    for item in expected:
        hit = _match(item.slots)
        unproven = or_(Entry.placeholder.is_(True), Entry.sha256.is_(None))
        differs = (
            and_(
                hit, Entry.placeholder.is_(False), Entry.sha256.is_not(None), Entry.sha256.not_in(sorted(item.digests))
            )
            if item.digests
            else false()
        )
        aggregates += [
            func.max(case((hit, 1), else_=0)),
            func.max(case((differs, Entry.sha256), else_=None)),
            func.max(case((and_(hit, unproven), 1), else_=0)),
        ]
    return aggregates


def _per_device(
    conn: Connection, head: Sequence[Any], columns: list[ColumnElement[Any]]
) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """SELECT head + aggregate `columns` over each device's latest entries; returns the query and the aggregate
    columns as usable in WHERE / HAVING.

    PostgreSQL aggregates each device's latest entries in a LATERAL subquery (an index probe per device, never
    a scan of the whole history); SQLite's nested-loop join does the same with a plain GROUP BY.
    """
    if conn.dialect.name == "postgresql":
        # the fleet query's cost estimate triggers JIT compilation, which costs more than the query itself
        conn.exec_driver_sql("SET LOCAL jit = off")
        agg = (
            select(*(a.label(f"a{i}") for i, a in enumerate(columns)))
            .where(Entry.snapshot_id == Device.latest_snapshot_id)
            .correlate(Device)
            .lateral("agg")
        )
        cols: list[ColumnElement[Any]] = list(agg.c)
        query = select(*head, *cols).join(Snapshot, Snapshot.id == Device.latest_snapshot_id).join(agg, true())
        return query, cols
    query = (
        select(*head, *columns)
        .join(Snapshot, Snapshot.id == Device.latest_snapshot_id)
        .join(Entry, Entry.snapshot_id == Device.latest_snapshot_id, isouter=True)
        .group_by(*head)
    )
    return query, columns


def fleet_status(
    conn: Connection,
    expected: Sequence[ExpectedSlot] = (),
    *,
    now: datetime | None = None,
    days: int = 30,
    with_expiries: bool = False,
    only_problems: bool = False,
) -> list[DeviceStatus]:
    """Every device with a snapshot (or only those with a problem), with its problems. Ordered by IMEI."""
    now = now or datetime.now(UTC)
    horizon = now + timedelta(days=days)
    head: list[Any] = [
        Device.id,
        Device.imei,
        Device.uuid,
        Device.firmware,
        Device.latest_snapshot_id,
        Snapshot.taken_at,
    ]
    query: Select[Any]
    if only_problems and not expected:
        # no manifest: the device rows alone say who lost entries or expires soon; entries are only read for those
        count = select(func.count(Entry.id)).where(Entry.snapshot_id == Device.latest_snapshot_id).scalar_subquery()
        query = (
            select(*head, count, Device.soonest_expiry)
            .join(Snapshot, Snapshot.id == Device.latest_snapshot_id)
            .where(Device.soonest_expiry <= horizon)
        )
    else:
        query, cols = _per_device(conn, head, _aggregates(expected))
        if only_problems:
            condition = _problem_filter(cols, expected, horizon)
            query = query.where(condition) if conn.dialect.name == "postgresql" else query.having(condition)
    statuses: dict[int, DeviceStatus] = {}
    soon: list[int] = []
    row: Any
    for row in conn.execute(query.order_by(Device.imei)):
        status = _status(row)
        for i, item in enumerate(expected):
            has, bad, unproven = row[8 + 3 * i : 11 + 3 * i]
            if not has:
                status.problems.append(Problem("missing", item.sec_tag, item.type))
            elif bad:
                status.problems.append(Problem("mismatch", item.sec_tag, item.type, bad))
            elif unproven and item.digests:
                status.problems.append(Problem("unverifiable", item.sec_tag, item.type))
        statuses[row[0]] = status
        soonest = _aware(row[7])
        if soonest is not None and (with_expiries or soonest <= horizon):
            soon.append(row[0])
    _add_lost(conn, statuses, head)
    _add_expiries(conn, statuses, soon, now, horizon)
    return sorted(statuses.values(), key=lambda st: st.imei) if only_problems else list(statuses.values())


def fleet_counts(
    conn: Connection, expected: Sequence[ExpectedSlot] = (), *, now: datetime, days: int = 30
) -> list[DeviceCounts]:
    """Every device with a snapshot and its figures (entries, problems by kind, expiry), ordered by IMEI.

    All of it is counted by the database in one pass over each device's latest entries."""
    horizon = now + timedelta(days=days)
    aggregates = _aggregates(expected)
    missing: ColumnElement[Any] = literal(0)
    mismatch: ColumnElement[Any] = literal(0)
    unverifiable: ColumnElement[Any] = literal(0)
    for i, item in enumerate(expected):
        has, bad, unproven = aggregates[2 + 3 * i : 5 + 3 * i]
        missing = missing + case((has == 0, 1), else_=0)
        mismatch = mismatch + case((and_(has == 1, bad.is_not(None)), 1), else_=0)
        if item.digests:
            unverifiable = unverifiable + case((and_(has == 1, bad.is_(None), unproven == 1), 1), else_=0)
    expired = func.count(case((Entry.not_after <= now, 1), else_=None))
    expiring = func.count(case((and_(Entry.not_after > now, Entry.not_after <= horizon), 1), else_=None))
    head: list[Any] = [
        Device.imei,
        Device.uuid,
        Device.firmware,
        Device.latest_snapshot_id,
        Snapshot.taken_at,
        Device.lost_entries,
        Device.soonest_expiry,
    ]
    query, _ = _per_device(conn, head, [aggregates[0], missing, mismatch, unverifiable, expiring, expired])
    return [
        DeviceCounts(
            imei=r[0],
            uuid=r[1],
            firmware=r[2],
            latest_snapshot_id=r[3],
            taken_at=r[4],
            lost=int(r[5] or 0),
            soonest_expiry=r[6],
            entries=int(r[7]),
            missing=int(r[8]),
            mismatch=int(r[9]),
            unverifiable=int(r[10]),
            expiring=int(r[11]),
            expired=int(r[12]),
        )
        for r in conn.execute(query.order_by(Device.imei))
    ]


def fleet_expiries(conn: Connection) -> list[ExpiryRow]:
    """Every certificate with a known notAfter in the devices' latest snapshots, by IMEI, sec_tag, type."""
    with_expiry = and_(Device.soonest_expiry.is_not(None), Entry.not_after.is_not(None))
    if conn.dialect.name == "postgresql":
        certs = (
            select(Entry.sec_tag, Entry.type, Entry.not_after)
            .where(Entry.snapshot_id == Device.latest_snapshot_id, Entry.not_after.is_not(None))
            .correlate(Device)
            .lateral("certs")
        )
        query = (
            select(Device.imei, certs.c.sec_tag, certs.c.type, certs.c.not_after)
            .join(certs, true())
            .where(Device.soonest_expiry.is_not(None))
            .order_by(Device.imei, certs.c.sec_tag, certs.c.type)
        )
    else:
        query = (
            select(Device.imei, Entry.sec_tag, Entry.type, Entry.not_after)
            .join(Entry, Entry.snapshot_id == Device.latest_snapshot_id)
            .where(with_expiry)
            .order_by(Device.imei, Entry.sec_tag, Entry.type)
        )
    return [ExpiryRow(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]


def _status(row: Any) -> DeviceStatus:
    return DeviceStatus(
        imei=row[1], uuid=row[2], firmware=row[3], latest_snapshot_id=row[4], taken_at=row[5], entries=int(row[6] or 0)
    )


def _problem_filter(
    cols: Sequence[ColumnElement[Any]], expected: Sequence[ExpectedSlot], horizon: datetime
) -> ColumnElement[bool]:
    """SQL condition: the device misses / mismatches an expected entry or has a certificate expiring soon."""
    conditions: list[ColumnElement[bool]] = [cols[1] <= horizon]
    for i, item in enumerate(expected):
        has, bad, unproven = cols[2 + 3 * i : 5 + 3 * i]
        conditions += [has == 0, bad.is_not(None)]
        if item.digests:
            conditions.append(unproven == 1)
    return or_(*conditions)


def _aware(value: Any) -> datetime | None:
    """Aggregates skip the column type on some backends: normalise to aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _add_lost(conn: Connection, statuses: dict[int, DeviceStatus], head: list[Any]) -> None:
    """Entries of the previous snapshot that the latest one no longer lists (adds devices not yet in `statuses`)."""
    latest = aliased(Entry)
    still_there = (
        exists()
        .where(
            latest.snapshot_id == Device.latest_snapshot_id,
            latest.sec_tag == Entry.sec_tag,
            latest.type == Entry.type,
        )
        .correlate(Device, Entry)
    )
    if conn.dialect.name == "postgresql":
        lost = (
            select(Entry.sec_tag, Entry.type, Entry.sha256)
            .where(Entry.snapshot_id == Device.previous_snapshot_id, ~still_there)
            .correlate(Device)
            .lateral("lost")
        )
        query = (
            select(Device.id, lost.c.sec_tag, lost.c.type, lost.c.sha256)
            .join(lost, true())
            .order_by(Device.id, lost.c.sec_tag, lost.c.type)
        )
    else:
        query = (
            select(Device.id, Entry.sec_tag, Entry.type, Entry.sha256)
            .join(Entry, Entry.snapshot_id == Device.previous_snapshot_id)
            .where(~still_there)
            .order_by(Device.id, Entry.sec_tag, Entry.type)
        )
    rows = conn.execute(query.where(Device.lost_entries > 0)).all()
    missing_heads = sorted({r[0] for r in rows} - statuses.keys())
    for start in range(0, len(missing_heads), 500):
        chunk = missing_heads[start : start + 500]
        heads = conn.execute(
            select(*head, func.count(Entry.id), literal(None))
            .join(Snapshot, Snapshot.id == Device.latest_snapshot_id)
            .join(Entry, Entry.snapshot_id == Device.latest_snapshot_id, isouter=True)
            .where(Device.id.in_(chunk))
            .group_by(*head)
        )
        for row in heads:
            statuses[row[0]] = _status(row)
    for dev_id, tag, code, sha in rows:
        if dev_id in statuses:
            statuses[dev_id].problems.append(Problem("lost", tag, code, sha))


def _add_expiries(
    conn: Connection, statuses: dict[int, DeviceStatus], device_ids: list[int], now: datetime, horizon: datetime
) -> None:
    """Expiry details of the given devices, read by their latest snapshot ids (index lookups only)."""
    by_snapshot = {statuses[d].latest_snapshot_id: d for d in device_ids}
    snapshot_ids = sorted(k for k in by_snapshot if k is not None)
    for start in range(0, len(snapshot_ids), 500):
        chunk = snapshot_ids[start : start + 500]
        rows = conn.execute(
            select(Entry.snapshot_id, Entry.sec_tag, Entry.type, Entry.sha256, Entry.not_after)
            .where(Entry.snapshot_id.in_(chunk), Entry.not_after.is_not(None))
            .order_by(Entry.snapshot_id, Entry.sec_tag, Entry.type)
        )
        for snap_id, tag, code, sha, not_after in rows:
            if not_after is None:
                continue
            status = statuses[by_snapshot[snap_id]]
            status.expiries.append((tag, code, not_after))
            if not_after <= now:
                status.problems.append(Problem("expired", tag, code, sha, not_after))
            elif not_after <= horizon:
                status.problems.append(Problem("expiring", tag, code, sha, not_after))


def drift(
    conn: Connection,
    expected: Sequence[ExpectedSlot] = (),
    *,
    manifest: str | None = None,
    days: int = 30,
    now: datetime | None = None,
) -> DriftReport:
    """Devices with at least one problem."""
    now = now or datetime.now(UTC)
    statuses = fleet_status(conn, expected, now=now, days=days, only_problems=True)
    checked = conn.execute(select(func.count(Device.id)).where(Device.latest_snapshot_id.is_not(None))).scalar()
    return DriftReport(
        generated_at=now,
        manifest=manifest,
        days=days,
        devices_checked=int(checked or 0),
        drifted=tuple(s for s in statuses if s.problems),
    )
