"""Writing snapshots and apply runs: one code path for one record and for bulk batches.

Called inside one write transaction (the caller owns it), so a batch is stored completely or not at all.
Rows go in with the driver's fastest path (SQLite `executemany`, PostgreSQL `COPY`). Each device row keeps
`latest_snapshot_id` / `previous_snapshot_id` by `taken_at` (ties: higher id), so an old log imported late
never hides the newest state; on PostgreSQL the device rows are locked (`FOR UPDATE`, in id order) so
stations writing the same device at once serialise instead of racing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from credwarden.inventory.records import ApplyRecord, EntryRecord, SnapshotRecord, hostname
from credwarden.inventory.schema import Device, Entry, Snapshot

_Key = tuple[datetime, int]


@dataclass
class _DeviceState:
    id: int
    first_seen: datetime
    last_seen: datetime
    uuid: str | None
    model: str | None
    firmware: str | None
    latest: _Key | None
    previous: _Key | None
    changed: bool = False
    latest_keys: frozenset[tuple[int, int]] = frozenset()
    previous_keys: frozenset[tuple[int, int]] = frozenset()
    soonest_expiry: datetime | None = None  #: of the latest snapshot's entries
    #: not_after known for (sec_tag, type, sha256) on this device (latest snapshot, then this batch)
    known_expiry: dict[tuple[int, int, str], datetime] = field(default_factory=dict)

    def with_known_expiry(self, rec: SnapshotRecord) -> SnapshotRecord:
        """`rec` with not_after carried forward to entries whose digest had a known expiry (same content)."""
        if not self.known_expiry:
            return rec
        entries: list[EntryRecord] = []
        changed = False
        for e in rec.entries:
            known = (
                None
                if e.not_after or e.placeholder or not e.sha256
                else self.known_expiry.get((e.sec_tag, e.type, e.sha256))
            )
            if known is not None:
                e, changed = replace(e, not_after=known), True
            entries.append(e)
        return replace(rec, entries=tuple(entries)) if changed else rec

    def learn_expiry(self, rec: SnapshotRecord) -> None:
        for e in rec.entries:
            if e.not_after and e.sha256 and not e.placeholder:
                self.known_expiry[(e.sec_tag, e.type, e.sha256)] = e.not_after

    @property
    def lost_entries(self) -> int:
        """Entries of the previous snapshot the latest one no longer lists (fleet drift reads only this)."""
        return len(self.previous_keys - self.latest_keys) if self.previous is not None else 0

    def observe(self, rec: SnapshotRecord, snapshot_id: int) -> None:
        key = (rec.taken_at, snapshot_id)
        keys = frozenset((e.sec_tag, e.type) for e in rec.entries)
        self.first_seen = min(self.first_seen, rec.taken_at)
        self.last_seen = max(self.last_seen, rec.taken_at)
        if self.latest is None or key > self.latest:
            self.previous, self.latest = self.latest, key
            self.previous_keys, self.latest_keys = self.latest_keys, keys
            self.soonest_expiry = min((e.not_after for e in rec.entries if e.not_after), default=None)
            self.uuid = rec.uuid or self.uuid
            self.model = rec.model or self.model
            self.firmware = rec.firmware or self.firmware
        elif self.previous is None or key > self.previous:
            self.previous, self.previous_keys = key, keys
        self.changed = True


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def db_time(conn: Connection, value: datetime | None) -> Any:
    """A UTC datetime as the raw driver path expects it (SQLite: SQLAlchemy's naive text format)."""
    if value is None or is_postgres(conn):
        return value
    return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def write_snapshots(conn: Connection, records: Sequence[SnapshotRecord]) -> list[int]:
    """Store `records` (snapshots with their entries) and update their devices; return the snapshot ids."""
    if not records:
        return []
    states = _lock_devices(conn, records)
    ids = _allocate_ids(conn, "snapshots", len(records))
    snapshot_rows: list[tuple[Any, ...]] = []
    entry_rows: list[tuple[Any, ...]] = []
    for snap_id, rec in zip(ids, records, strict=True):
        state = states[rec.imei]
        rec = state.with_known_expiry(rec)
        state.learn_expiry(rec)
        snapshot_rows.append(
            (snap_id, state.id, db_time(conn, rec.taken_at), rec.station, rec.host, rec.source, rec.firmware)
        )
        entry_rows.extend(
            (snap_id, e.sec_tag, e.type, e.sha256, e.placeholder, db_time(conn, e.not_after)) for e in rec.entries
        )
        state.observe(rec, snap_id)
    _insert_rows(
        conn, "snapshots", ("id", "device_id", "taken_at", "station", "host", "source", "firmware"), snapshot_rows
    )
    _insert_rows(conn, "entries", ("snapshot_id", "sec_tag", "type", "sha256", "placeholder", "not_after"), entry_rows)
    _update_devices(conn, [s for s in states.values() if s.changed])
    return ids


def write_apply(conn: Connection, rec: SnapshotRecord, run: ApplyRecord) -> int:
    """Store an apply run (the device row is created if new); return the run id."""
    state = _lock_devices(conn, [rec])[rec.imei]
    state.first_seen = min(state.first_seen, run.started_at)
    state.last_seen = max(state.last_seen, run.finished_at or run.started_at)
    state.uuid, state.model, state.firmware = (
        rec.uuid or state.uuid,
        rec.model or state.model,
        (rec.firmware or state.firmware),
    )
    state.changed = True
    run_id = _allocate_ids(conn, "apply_runs", 1)[0]
    _insert_rows(
        conn,
        "apply_runs",
        ("id", "device_id", "station", "host", "started_at", "finished_at", "ok", "manifest_digest"),
        [
            (
                run_id,
                state.id,
                rec.station,
                rec.host or hostname(),
                db_time(conn, run.started_at),
                db_time(conn, run.finished_at),
                run.ok,
                run.manifest_digest,
            )
        ],
    )
    _insert_rows(
        conn,
        "apply_actions",
        ("run_id", "sec_tag", "type", "action", "status", "reason"),
        [(run_id, a.sec_tag, a.type, a.action, a.status, a.reason) for a in run.actions],
    )
    _update_devices(conn, [state])
    return run_id


def _lock_devices(conn: Connection, records: Sequence[SnapshotRecord]) -> dict[str, _DeviceState]:
    """Create missing device rows, then read (and on PostgreSQL lock) every device of the batch."""
    first: dict[str, datetime] = {}
    for rec in records:
        first[rec.imei] = min(first.get(rec.imei, rec.taken_at), rec.taken_at)
    if is_postgres(conn):
        imeis = sorted(first)
        conn.exec_driver_sql(
            "INSERT INTO devices (imei, first_seen, last_seen) SELECT i, t, t FROM unnest(%s::text[], "
            "%s::timestamptz[]) AS v(i, t) ORDER BY i ON CONFLICT (imei) DO NOTHING",
            (imeis, [first[i] for i in imeis]),
        )
    else:
        new_rows = [{"imei": imei, "first_seen": t, "last_seen": t} for imei, t in first.items()]
        conn.execute(sqlite_insert(Device).on_conflict_do_nothing(index_elements=["imei"]), new_rows)

    states: dict[str, _DeviceState] = {}
    for row in _device_rows(conn, sorted(first)):
        states[row[1]] = _DeviceState(
            id=row[0],
            first_seen=row[2],
            last_seen=row[3],
            uuid=row[4],
            model=row[5],
            firmware=row[6],
            latest=(row[8], row[7]) if row[7] is not None else None,
            previous=(row[10], row[9]) if row[9] is not None else None,
            soonest_expiry=row[11],
        )
    _load_keys(conn, list(states.values()))
    return states


def _device_rows(conn: Connection, imeis: list[str]) -> Iterator[Sequence[Any]]:
    """Device rows with their latest / previous snapshot keys (on PostgreSQL locked first, in id order)."""
    if is_postgres(conn):
        # Lock first, read after: a statement that waited for a lock still sees the data as of its start
        # (READ COMMITTED), so the state is read by a fresh statement once the rows are ours. One array
        # parameter each (not one bind per IMEI), fetched by the driver directly.
        _pg_fetch(conn, "SELECT id FROM devices WHERE imei = ANY(%s) ORDER BY id FOR UPDATE", (imeis,))
        yield from _pg_fetch(
            conn,
            "SELECT d.id, d.imei, d.first_seen, d.last_seen, d.uuid, d.model, d.firmware, l.id, l.taken_at, p.id, "
            "p.taken_at, d.soonest_expiry FROM devices d LEFT JOIN snapshots l ON l.id = d.latest_snapshot_id "
            "LEFT JOIN snapshots p ON p.id = d.previous_snapshot_id WHERE d.imei = ANY(%s) ORDER BY d.id",
            (imeis,),
        )
        return
    latest, previous = aliased(Snapshot), aliased(Snapshot)
    for start in range(0, len(imeis), 500):  # bounded IN lists
        chunk = imeis[start : start + 500]
        yield from conn.execute(
            select(
                Device.id,
                Device.imei,
                Device.first_seen,
                Device.last_seen,
                Device.uuid,
                Device.model,
                Device.firmware,
                latest.id,
                latest.taken_at,
                previous.id,
                previous.taken_at,
                Device.soonest_expiry,
            )
            .outerjoin(latest, latest.id == Device.latest_snapshot_id)
            .outerjoin(previous, previous.id == Device.previous_snapshot_id)
            .where(Device.imei.in_(chunk))
            .order_by(Device.id)
        )


def _pg_fetch(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """All rows of a query through the psycopg cursor itself (no per-row SQLAlchemy processing)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _load_keys(conn: Connection, states: list[_DeviceState]) -> None:
    """(sec_tag, type) sets of each device's latest and previous snapshot (to keep `lost_entries` current),
    and the latest snapshot's known expiries (to carry them forward)."""
    wanted = {s.latest[1] for s in states if s.latest} | {s.previous[1] for s in states if s.previous}
    if not wanted:
        return
    keys: dict[int, set[tuple[int, int]]] = {sid: set() for sid in wanted}
    expiries: dict[int, dict[tuple[int, int, str], datetime]] = {}
    for sid, tag, code, digest, placeholder, not_after in _entry_rows(conn, sorted(wanted)):
        keys[sid].add((tag, code))
        if not_after is not None and digest and not placeholder:
            expiries.setdefault(sid, {})[(tag, code, digest)] = _utc(not_after)
    for s in states:
        if s.latest:
            s.latest_keys = frozenset(keys[s.latest[1]])
            s.known_expiry = expiries.get(s.latest[1], {})
        if s.previous:
            s.previous_keys = frozenset(keys[s.previous[1]])


def _entry_rows(conn: Connection, snapshot_ids: list[int]) -> Iterator[Sequence[Any]]:
    """(snapshot_id, sec_tag, type, sha256, placeholder, not_after) of the given snapshots' entries."""
    if is_postgres(conn):
        yield from _pg_fetch(
            conn,
            "SELECT snapshot_id, sec_tag, type, sha256, placeholder, not_after FROM entries "
            "WHERE snapshot_id = ANY(%s::int[])",
            (snapshot_ids,),
        )
        return
    query = select(Entry.snapshot_id, Entry.sec_tag, Entry.type, Entry.sha256, Entry.placeholder, Entry.not_after)
    for start in range(0, len(snapshot_ids), 500):
        yield from conn.execute(query.where(Entry.snapshot_id.in_(snapshot_ids[start : start + 500])))


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _allocate_ids(conn: Connection, table: str, count: int) -> list[int]:
    """Primary keys for `count` new rows (the write lock / sequence makes them unique across stations)."""
    if is_postgres(conn):
        cursor = conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", (count,)
        )
        return [int(r[0]) for r in cursor]
    top = conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").scalar()
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


def _insert_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if is_postgres(conn):
        raw = conn.connection.driver_connection
        assert raw is not None
        # Binary COPY: no text formatting or parsing of timestamps and integers on either side.
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_PG_TYPES.get(c, "text") for c in columns])
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


#: PostgreSQL types of the inserted columns (binary COPY must send each value in its column's type; default text).
_PG_TYPES = {
    "id": "int4",
    "device_id": "int4",
    "snapshot_id": "int4",
    "run_id": "int4",
    "type": "int4",
    "sec_tag": "int8",
    "taken_at": "timestamptz",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "not_after": "timestamptz",
    "placeholder": "bool",
    "ok": "bool",
}


def _update_devices(conn: Connection, states: list[_DeviceState]) -> None:
    if not states:
        return
    if is_postgres(conn):
        conn.exec_driver_sql(
            "UPDATE devices AS d SET first_seen = v.f, last_seen = v.l, uuid = v.u, model = v.m, firmware = v.w, "
            "latest_snapshot_id = v.ls, previous_snapshot_id = v.ps, lost_entries = v.lost, soonest_expiry = v.se "
            "FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], "
            "%s::int[], %s::int[], %s::int[], %s::timestamptz[]) AS v(id, f, l, u, m, w, ls, ps, lost, se) "
            "WHERE d.id = v.id",
            (
                [st.id for st in states],
                [st.first_seen for st in states],
                [st.last_seen for st in states],
                [st.uuid for st in states],
                [st.model for st in states],
                [st.firmware for st in states],
                [st.latest[1] if st.latest else None for st in states],
                [st.previous[1] if st.previous else None for st in states],
                [st.lost_entries for st in states],
                [st.soonest_expiry for st in states],
            ),
        )
        return
    mark = "?"
    sql = (
        f"UPDATE devices SET first_seen = {mark}, last_seen = {mark}, uuid = {mark}, model = {mark}, "
        f"firmware = {mark}, latest_snapshot_id = {mark}, previous_snapshot_id = {mark}, lost_entries = {mark}, "
        f"soonest_expiry = {mark} WHERE id = {mark}"
    )
    conn.exec_driver_sql(
        sql,
        [
            (
                db_time(conn, s.first_seen),
                db_time(conn, s.last_seen),
                s.uuid,
                s.model,
                s.firmware,
                s.latest[1] if s.latest else None,
                s.previous[1] if s.previous else None,
                s.lost_entries,
                db_time(conn, s.soonest_expiry),
                s.id,
            )
            for s in states
        ],
    )
