"""Fleet status and drift: each device's latest snapshot against a manifest, its previous snapshot and the clock.

Computed in SQL over the denormalised `devices.latest_snapshot_id` / `previous_snapshot_id` (one grouped join
over the latest entries plus one anti-join for lost credentials), so the whole fleet is checked in one pass.
Digest equivalence follows provisioning: an entry matches when its digest is the SHA-256 of any common
encoding of the manifest's content (`creds.encoding.equivalent_digests`); placeholder / missing digests prove
nothing and are reported as unverifiable, not as mismatches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from credwarden.inventory.schema import Device, Entry, Snapshot
from credwarden.inventory.views import iso
from credwarden.types import slot_json, type_name

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
            **slot_json(self.sec_tag, self.type),
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


class DeviceCounts(NamedTuple):
    """One device's latest state as numbers (CSV and Prometheus exports); counted by the database.

    (A tuple in the order of the query's columns: one is made per device of the fleet.)"""

    imei: str
    uuid: str | None
    firmware: str | None
    latest_snapshot_id: int
    taken_at: datetime
    lost: int
    soonest_expiry: datetime | None
    entries: int
    missing: int
    mismatch: int
    unverifiable: int
    expiring: int
    expired: int
    #: (sec_tag, type, not_after) of every entry with a known notAfter (only when asked for: `with_certificates`)
    certificates: tuple[tuple[int, int, datetime], ...] = ()


class _SlotChecks:
    """The manifest's items checked against every device's latest snapshot, as SQL over `devices`: per item
    whether it is listed (`has`), listed with a digest the manifest does not accept (`differs`, `bad_digest`)
    or with one that proves nothing (`unproven`). Only the entries of the slots the manifest names are read.

    SQLite probes each slot of each device (`entries` is keyed by snapshot, tag and type): plain outer joins
    its planner runs as nested index lookups. PostgreSQL, where a probe costs more, reads each device's entries
    of the manifest's tags and types in one index range and aggregates them (`_PgSlotChecks`).
    """

    def __init__(self, expected: Sequence[ExpectedSlot]) -> None:
        self.expected = list(expected)
        self.joins: list[tuple[Any, ColumnElement[bool]]] = []
        #: per item, per slot: (present, sha256, placeholder) columns
        self.slots: list[list[tuple[Any, Any, Any]]] = []
        for item in self.expected:
            columns: list[tuple[Any, Any, Any]] = []
            for tag, code in item.slots:
                e = aliased(Entry)
                self.joins.append(
                    (e, and_(e.snapshot_id == Device.latest_snapshot_id, e.sec_tag == tag, e.type == code))
                )
                columns.append((e.snapshot_id, e.sha256, e.placeholder))
            self.slots.append(columns)

    @staticmethod
    def build(conn: Connection, expected: Sequence[ExpectedSlot]) -> _SlotChecks:
        return _PgSlotChecks(expected) if conn.dialect.name == "postgresql" else _SlotChecks(expected)

    def join(self, query: Select[Any]) -> Select[Any]:
        """`query` (over `devices`) with the lookups joined."""
        source: Any = Device.__table__
        for target, on in self.joins:
            source = source.outerjoin(target, on)
        return query.select_from(source)

    def has(self, i: int) -> ColumnElement[bool]:
        return or_(*(present.is_not(None) for present, _, _ in self.slots[i]))

    def _differs(self, i: int, slot: int) -> ColumnElement[bool]:
        digests = self.expected[i].digests
        if not digests:
            return false()
        present, sha, placeholder = self.slots[i][slot]
        return and_(present.is_not(None), placeholder.is_(False), sha.is_not(None), sha.not_in(sorted(digests)))

    def differs(self, i: int) -> ColumnElement[bool]:
        return or_(*(self._differs(i, slot) for slot in range(len(self.slots[i]))))

    def bad_digest(self, i: int) -> ColumnElement[Any]:
        cases = [case((self._differs(i, n), sha), else_=None) for n, (_, sha, _) in enumerate(self.slots[i])]
        return cases[0] if len(cases) == 1 else func.coalesce(*cases)

    def unproven(self, i: int) -> ColumnElement[bool]:
        return or_(
            *(
                and_(present.is_not(None), or_(placeholder.is_(True), sha.is_(None)))
                for present, sha, placeholder in self.slots[i]
            )
        )

    def item_columns(self) -> list[ColumnElement[Any]]:
        """Per item: listed (0/1), a differing digest (or NULL), listed without proof (0/1)."""
        columns: list[ColumnElement[Any]] = []
        for i in range(len(self.expected)):
            columns += [
                case((self.has(i), 1), else_=0),
                self.bad_digest(i),
                case((self.unproven(i), 1), else_=0),
            ]
        return columns

    def problem(self, horizon: datetime) -> ColumnElement[bool]:
        """The device misses / mismatches an expected entry or has a certificate expiring soon."""
        conditions: list[ColumnElement[bool]] = [Device.soonest_expiry <= horizon]
        for i, item in enumerate(self.expected):
            conditions += [~self.has(i), self.differs(i)]
            if item.digests:
                conditions.append(self.unproven(i))
        return or_(*conditions)

    def counts(self) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
        """Missing, mismatched and unverifiable items of a device, counted by the database."""
        missing: ColumnElement[Any] = literal(0)
        mismatch: ColumnElement[Any] = literal(0)
        unverifiable: ColumnElement[Any] = literal(0)
        for i, item in enumerate(self.expected):
            has, differs = self.has(i), self.differs(i)
            missing = missing + case((has, 0), else_=1)
            mismatch = mismatch + case((and_(has, differs), 1), else_=0)
            if item.digests:
                unverifiable = unverifiable + case((and_(has, ~differs, self.unproven(i)), 1), else_=0)
        return missing, mismatch, unverifiable


class _PgSlotChecks(_SlotChecks):
    """PostgreSQL: one LATERAL aggregate per device over its latest entries of the manifest's tags and types
    (an index range scan), giving per item how many slots are listed, differ, or prove nothing."""

    def __init__(self, expected: Sequence[ExpectedSlot]) -> None:
        self.expected = list(expected)
        self.joins = []
        self.slots = []
        if not self.expected:
            return
        columns: list[ColumnElement[Any]] = []
        for item in self.expected:
            hit = _match(item.slots)
            real = and_(hit, Entry.placeholder.is_(False), Entry.sha256.is_not(None))
            differs = and_(real, Entry.sha256.not_in(sorted(item.digests))) if item.digests else false()
            columns += [
                func.count().filter(hit),
                func.max(Entry.sha256).filter(differs),
                func.count().filter(and_(hit, or_(Entry.placeholder.is_(True), Entry.sha256.is_(None)))),
            ]
        tags = sorted({tag for item in self.expected for tag, _ in item.slots})
        types = sorted({code for item in self.expected for _, code in item.slots})
        self.figures = (
            select(*(c.label(f"c{n}") for n, c in enumerate(columns)))
            .where(Entry.snapshot_id == Device.latest_snapshot_id, Entry.sec_tag.in_(tags), Entry.type.in_(types))
            .offset(0)  # kept a per-device index scan: not flattened into a join over every entry ever stored
            .correlate(Device)
            .lateral("figures")
        )
        self.joins.append((self.figures, true()))

    def _column(self, i: int, which: int) -> ColumnElement[Any]:
        column: ColumnElement[Any] = self.figures.c[f"c{3 * i + which}"]
        return column

    def has(self, i: int) -> ColumnElement[bool]:
        return self._column(i, 0) > 0

    def differs(self, i: int) -> ColumnElement[bool]:
        return self._column(i, 1).is_not(None)

    def bad_digest(self, i: int) -> ColumnElement[Any]:
        return self._column(i, 1)

    def unproven(self, i: int) -> ColumnElement[bool]:
        return self._column(i, 2) > 0


def _latest_taken_at() -> ColumnElement[Any]:
    """When the device's latest snapshot was taken: a primary-key lookup per row returned (a join would let
    PostgreSQL hash the whole snapshot history)."""
    return (
        select(Snapshot.taken_at)
        .where(Snapshot.id == Device.latest_snapshot_id)
        .correlate(Device)
        .scalar_subquery()
        .label("taken_at")
    )


def _entry_count(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many of the device's latest entries meet `conditions` (a scalar subquery: an index range per device)."""
    return (
        select(func.count())
        .select_from(Entry)
        .where(Entry.snapshot_id == Device.latest_snapshot_id, *conditions)
        .correlate(Device)
        .scalar_subquery()
    )


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
    _no_jit(conn)
    checks = _SlotChecks.build(conn, expected)
    head: list[Any] = [
        Device.id,
        Device.imei,
        Device.uuid,
        Device.firmware,
        Device.latest_snapshot_id,
        _latest_taken_at(),
    ]
    query = checks.join(
        select(*head, _entry_count(), Device.soonest_expiry, *checks.item_columns()).where(
            Device.latest_snapshot_id.is_not(None)
        )
    )
    if only_problems:
        query = query.where(checks.problem(horizon))
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
    conn: Connection,
    expected: Sequence[ExpectedSlot] = (),
    *,
    now: datetime,
    days: int = 30,
    with_certificates: bool = False,
) -> list[DeviceCounts]:
    """Every device with a snapshot and its figures (entries, problems by kind, expiry), ordered by IMEI;
    `with_certificates`: also each certificate with a known notAfter.

    All of it is counted by the database. SQLite probes the manifest's slots (and reads expiry only on devices
    that have one); PostgreSQL, where each probe costs more, aggregates each device's latest entries in one
    LATERAL pass. The certificates come as one aggregated string per device (not a row each)."""
    horizon = now + timedelta(days=days)
    _no_jit(conn)
    figures = (
        _pg_figures(expected, now, horizon, with_certificates)
        if conn.dialect.name == "postgresql"
        else _probe_figures(conn, expected, now, horizon, with_certificates)
    )
    head = [
        Device.imei,
        Device.uuid,
        Device.firmware,
        Device.latest_snapshot_id,
        _untyped(_latest_taken_at()),
        Device.lost_entries,
        _untyped(Device.soonest_expiry),
    ]
    query = figures(select(*head)).where(Device.latest_snapshot_id.is_not(None))
    as_time = _time_reader(conn)
    counts: list[DeviceCounts] = []
    r: Any
    for r in conn.execute(query.order_by(Device.imei)):
        soonest = None if r[6] is None else as_time(r[6])
        certificates = _certificates(r[13]) if with_certificates and r[13] else ()
        counts.append(
            DeviceCounts(
                r[0],
                r[1],
                r[2],
                r[3],
                as_time(r[4]),
                r[5],
                soonest,
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                certificates,
            )
        )
    return counts


def _certificates(text: str) -> tuple[tuple[int, int, datetime], ...]:
    """`sec_tag type YYYY-MM-DD HH:MM:SS.ffffff` items joined by commas (UTC), sorted by sec_tag and type."""
    found = []
    for item in text.split(","):
        tag, code, when = item.split(" ", 2)
        found.append((int(tag), int(code), datetime.fromisoformat(when + "+00:00")))
    return tuple(sorted(found))


_Figures = Callable[[Select[Any]], Select[Any]]


def _probe_figures(
    conn: Connection, expected: Sequence[ExpectedSlot], now: datetime, horizon: datetime, with_certificates: bool
) -> _Figures:
    """Adds entries, missing, mismatch, unverifiable, expiring, expired (and the certificates) by index probes."""
    checks = _SlotChecks.build(conn, expected)
    soon = Device.soonest_expiry <= horizon
    expired = case((soon, _entry_count(Entry.not_after <= now)), else_=0)
    expiring = case((soon, _entry_count(Entry.not_after > now, Entry.not_after <= horizon)), else_=0)
    extra: list[ColumnElement[Any]] = []
    if with_certificates:
        listed = (
            select(func.group_concat(_certificate_text(type_coerce(Entry.not_after, String())), ","))
            .where(Entry.snapshot_id == Device.latest_snapshot_id, Entry.not_after.is_not(None))
            .correlate(Device)
            .scalar_subquery()
        )
        extra.append(case((Device.soonest_expiry.is_not(None), listed), else_=None))

    def add(query: Select[Any]) -> Select[Any]:
        return checks.join(query.add_columns(_entry_count(), *checks.counts(), expiring, expired, *extra))

    return add


def _pg_figures(
    expected: Sequence[ExpectedSlot], now: datetime, horizon: datetime, with_certificates: bool
) -> _Figures:
    """The same figures from one aggregate over each device's latest entries (a LATERAL index scan)."""

    def count(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.count().filter(and_(*conditions)) if conditions else func.count()

    missing: ColumnElement[Any] = literal(0)
    mismatch: ColumnElement[Any] = literal(0)
    unverifiable: ColumnElement[Any] = literal(0)
    for item in expected:
        hit = _match(item.slots)
        has = count(hit) > 0
        real = and_(hit, Entry.placeholder.is_(False), Entry.sha256.is_not(None))
        differs = count(real, Entry.sha256.not_in(sorted(item.digests))) > 0 if item.digests else false()
        missing = missing + case((has, 0), else_=1)
        mismatch = mismatch + case((and_(has, differs), 1), else_=0)
        if item.digests:
            unproven = count(hit, or_(Entry.placeholder.is_(True), Entry.sha256.is_(None))) > 0
            unverifiable = unverifiable + case((and_(has, ~differs, unproven), 1), else_=0)
    extra: list[ColumnElement[Any]] = []
    if with_certificates:
        when = func.to_char(func.timezone("UTC", Entry.not_after), "YYYY-MM-DD HH24:MI:SS.US")
        extra.append(func.string_agg(_certificate_text(when), ",").filter(Entry.not_after.is_not(None)))
    figures = (
        select(
            count(),
            missing,
            mismatch,
            unverifiable,
            count(Entry.not_after > now, Entry.not_after <= horizon),
            count(Entry.not_after <= now),
            *extra,
        )
        .where(Entry.snapshot_id == Device.latest_snapshot_id)
        .offset(0)  # not flattened into a join over every entry ever stored (see _SlotChecks)
        .correlate(Device)
        .lateral("figures")
    )

    def add(query: Select[Any]) -> Select[Any]:
        return query.add_columns(*figures.c).join(figures, true())

    return add


def _certificate_text(when: ColumnElement[Any]) -> ColumnElement[Any]:
    """`sec_tag type when` of one entry (the database joins them; `_certificates` reads them)."""
    return cast(Entry.sec_tag, String()).concat(" ").concat(cast(Entry.type, String())).concat(" ").concat(when)


def _match(slots: Sequence[Slot]) -> ColumnElement[bool]:
    return or_(*(and_(Entry.sec_tag == tag, Entry.type == code) for tag, code in slots))


def _no_jit(conn: Connection) -> None:
    """PostgreSQL: the fleet query's cost estimate triggers JIT compilation, which costs more than the query;
    times come back in UTC (fleet-sized results are read untyped, see `_time_reader`)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")


def _time_reader(conn: Connection) -> Callable[[Any], datetime]:
    """How an untyped time column reads as an aware UTC datetime: SQLite gives naive UTC text, psycopg gives
    aware datetimes (in UTC: `_no_jit` set the session's zone)."""
    if conn.dialect.name == "postgresql":
        return _as_is
    return _from_sqlite_text


def _as_is(value: datetime) -> datetime:
    return value


def _from_sqlite_text(value: str) -> datetime:
    return datetime.fromisoformat(value + "+00:00")


def _untyped(column: Any) -> Any:
    """A time column fetched as the driver gives it (fleet-sized results skip SQLAlchemy's per-value processing;
    `_time_reader` converts)."""
    return type_coerce(column, NullType())


def _status(row: Any) -> DeviceStatus:
    return DeviceStatus(
        imei=row[1], uuid=row[2], firmware=row[3], latest_snapshot_id=row[4], taken_at=row[5], entries=int(row[6] or 0)
    )


def _aware(value: Any) -> datetime | None:
    """A time from an aggregate or an untyped column (SQLite: naive UTC text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value + "+00:00")
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
