"""The inventory's write paths, one small class per backend, on the driver's own connection.

Both speak the same vocabulary to `recording` (devices of a batch, ids, rows, device summaries) and read rows
by column name. Each runs inside one transaction the caller owns (`begin` / `commit` / `rollback`):
SQLite starts it with `BEGIN IMMEDIATE` (the write lock up front: no deadlock on a lock upgrade between
stations), PostgreSQL locks the batch's device rows (`FOR UPDATE`, in id order) so stations writing the same
device serialise instead of racing. Rows go in with each driver's fastest path (SQLite `executemany`,
PostgreSQL binary `COPY`). The per-device summary that fleet-wide drift reads (`lost_entries`,
`soonest_expiry`) is aggregated by the database from the entries just written.

Times travel in each backend's native form: SQLite keeps naive UTC text in SQLAlchemy's format (which sorts
like the time itself), PostgreSQL timezone-aware datetimes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from credwarden.inventory.views import EntryView

if TYPE_CHECKING:
    from credwarden.inventory.recording import DeviceState

#: Columns of a device row as `devices()` returns them (by name).
DEVICE_COLUMNS = (
    "id",
    "imei",
    "first_seen",
    "last_seen",
    "uuid",
    "model",
    "firmware",
    "latest_id",
    "latest_taken",
    "previous_id",
    "previous_taken",
)
#: SQLite: the format SQLAlchemy stores DateTime values in (so both paths read each other's rows).
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: IMEIs per `IN (...)` list on SQLite (well below its variable limit).
_SQLITE_CHUNK = 500

_LOST_SQL = (
    "(SELECT COUNT(*) FROM entries p WHERE p.snapshot_id = {previous} AND NOT EXISTS (SELECT 1 FROM entries e "
    "WHERE e.snapshot_id = {latest} AND e.sec_tag = p.sec_tag AND e.type = p.type))"
)
_SOONEST_SQL = "(SELECT MIN(x.not_after) FROM entries x WHERE x.snapshot_id = {latest})"


class Writer(Protocol):
    """What `recording` needs from a backend, inside one write transaction."""

    def time(self, value: datetime | None) -> Any:
        """A UTC datetime in the backend's native form (None stays None)."""

    def devices(self, first_seen: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Create the missing devices (IMEI -> native first-seen time), lock and read every one (by name)."""

    def known_expiries(self, snapshot_ids: Sequence[int]) -> list[Mapping[str, Any]]:
        """Entries of these snapshots with a known not_after: snapshot_id, sec_tag, type, sha256, not_after."""

    def entries_at(self, imei: str, when: datetime) -> list[EntryView]:
        """Entries of the device's newest snapshot taken at or before `when` ([] when there is none)."""

    def new_ids(self, table: str, count: int) -> list[int]:
        """Primary keys for `count` new rows of `table`."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows (values in `columns` order)."""

    def update_devices(self, states: Sequence[DeviceState]) -> None:
        """Store the devices' new state; the database recomputes lost_entries / soonest_expiry."""

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class SqliteWriter:
    """Writes through a `sqlite3` connection (configured by `connect.open_sqlite`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _cursor(self) -> sqlite3.Cursor:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)

    @staticmethod
    def parse_time(value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

    def devices(self, first_seen: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        self.conn.executemany(
            "INSERT INTO devices (imei, first_seen, last_seen) VALUES (?, ?, ?) ON CONFLICT (imei) DO NOTHING",
            [(imei, when, when) for imei, when in first_seen.items()],
        )
        imeis = sorted(first_seen)
        rows: list[Mapping[str, Any]] = []
        cursor = self._cursor()
        for start in range(0, len(imeis), _SQLITE_CHUNK):
            chunk = imeis[start : start + _SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows += cursor.execute(
                "SELECT d.id, d.imei, d.first_seen, d.last_seen, d.uuid, d.model, d.firmware, l.id AS latest_id, "
                "l.taken_at AS latest_taken, p.id AS previous_id, p.taken_at AS previous_taken FROM devices d "
                "LEFT JOIN snapshots l ON l.id = d.latest_snapshot_id "
                f"LEFT JOIN snapshots p ON p.id = d.previous_snapshot_id WHERE d.imei IN ({marks})",
                chunk,
            ).fetchall()
        return rows

    def known_expiries(self, snapshot_ids: Sequence[int]) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        cursor = self._cursor()
        for start in range(0, len(snapshot_ids), _SQLITE_CHUNK):
            chunk = snapshot_ids[start : start + _SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows += cursor.execute(
                "SELECT snapshot_id, sec_tag, type, sha256, not_after FROM entries "
                f"WHERE snapshot_id IN ({marks}) AND not_after IS NOT NULL AND NOT placeholder "
                "AND sha256 IS NOT NULL",
                chunk,
            ).fetchall()
        return rows

    def entries_at(self, imei: str, when: datetime) -> list[EntryView]:
        rows = (
            self._cursor()
            .execute(
                "SELECT sec_tag, type, sha256, placeholder, not_after FROM entries WHERE snapshot_id = "
                "(SELECT s.id FROM snapshots s JOIN devices d ON d.id = s.device_id WHERE d.imei = ? "
                "AND s.taken_at <= ? ORDER BY s.taken_at DESC, s.id DESC LIMIT 1) ORDER BY sec_tag, type",
                (imei, self.time(when)),
            )
            .fetchall()
        )
        return [_entry_view(r, self.parse_time(r["not_after"])) for r in rows]

    def new_ids(self, table: str, count: int) -> list[int]:
        # the write lock (BEGIN IMMEDIATE) is held: nobody else allocates until this transaction ends
        top = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        return list(range(int(top) + 1, int(top) + 1 + count))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def update_devices(self, states: Sequence[DeviceState]) -> None:
        if not states:
            return
        self.conn.executemany(
            "UPDATE devices SET first_seen = :first_seen, last_seen = :last_seen, uuid = :uuid, model = :model, "
            "firmware = :firmware, latest_snapshot_id = :latest, previous_snapshot_id = :previous, "
            f"lost_entries = {_LOST_SQL.format(previous=':previous', latest=':latest')}, "
            f"soonest_expiry = {_SOONEST_SQL.format(latest=':latest')} WHERE id = :id",
            [
                {
                    "id": s.id,
                    "first_seen": s.first_seen,
                    "last_seen": s.last_seen,
                    "uuid": s.uuid,
                    "model": s.model,
                    "firmware": s.firmware,
                    "latest": s.latest_id,
                    "previous": s.previous_id,
                }
                for s in states
            ],
        )


class PostgresWriter:
    """Writes through a psycopg 3 connection: array parameters instead of one round trip per device, binary COPY."""

    def __init__(self, conn: Any) -> None:
        from psycopg.rows import dict_row

        self.conn = conn
        self._dict_row = dict_row

    def begin(self) -> None:
        """psycopg opens the transaction with the first statement: this one.

        Every statement of a batch touches the batch's few thousand devices and snapshots of tables holding the
        whole fleet and its history: index lookups, never a hash of the whole table (which the planner picks for
        a few thousand keys) nor JIT compilation (which their estimated cost would trigger)."""
        self.conn.execute("SET LOCAL jit = off")
        self.conn.execute("SET LOCAL enable_hashjoin = off")
        self.conn.execute("SET LOCAL enable_mergejoin = off")

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def time(self, value: datetime | None) -> Any:
        return value

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Mapping[str, Any]]:
        with self.conn.cursor(row_factory=self._dict_row) as cursor:
            cursor.execute(sql, params)
            rows: list[Mapping[str, Any]] = cursor.fetchall()
            return rows

    def devices(self, first_seen: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        imeis = sorted(first_seen)
        with self.conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO devices (imei, first_seen, last_seen) SELECT i, t, t FROM unnest(%s::text[], "
                "%s::timestamptz[]) AS v(i, t) ORDER BY i ON CONFLICT (imei) DO NOTHING",
                (imeis, [first_seen[i] for i in imeis]),
            )
            # Lock first, read after: a statement that waited for a lock still sees the data as of its start
            # (READ COMMITTED), so the state is read by a fresh statement once the rows are ours.
            cursor.execute("SELECT id FROM devices WHERE imei = ANY(%s) ORDER BY id FOR UPDATE", (imeis,))
        return self._fetch(
            "SELECT d.id, d.imei, d.first_seen, d.last_seen, d.uuid, d.model, d.firmware, l.id AS latest_id, "
            "l.taken_at AS latest_taken, p.id AS previous_id, p.taken_at AS previous_taken FROM devices d "
            "LEFT JOIN snapshots l ON l.id = d.latest_snapshot_id "
            "LEFT JOIN snapshots p ON p.id = d.previous_snapshot_id WHERE d.imei = ANY(%s) ORDER BY d.id",
            (imeis,),
        )

    def known_expiries(self, snapshot_ids: Sequence[int]) -> list[Mapping[str, Any]]:
        if not snapshot_ids:
            return []
        return self._fetch(
            "SELECT snapshot_id, sec_tag, type, sha256, not_after FROM entries WHERE snapshot_id = ANY(%s::int[]) "
            "AND not_after IS NOT NULL AND NOT placeholder AND sha256 IS NOT NULL",
            (list(snapshot_ids),),
        )

    def entries_at(self, imei: str, when: datetime) -> list[EntryView]:
        rows = self._fetch(
            "SELECT sec_tag, type, sha256, placeholder, not_after FROM entries WHERE snapshot_id = "
            "(SELECT s.id FROM snapshots s JOIN devices d ON d.id = s.device_id WHERE d.imei = %s "
            "AND s.taken_at <= %s ORDER BY s.taken_at DESC, s.id DESC LIMIT 1) ORDER BY sec_tag, type",
            (imei, when),
        )
        return [_entry_view(r, r["not_after"]) for r in rows]

    def new_ids(self, table: str, count: int) -> list[int]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", (count,)
            )
            return [int(r[0]) for r in cursor.fetchall()]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        # Binary COPY: no text formatting or parsing of timestamps and integers on either side.
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_PG_TYPES.get(c, "text") for c in columns])
            for row in rows:
                copy.write_row(row)

    def update_devices(self, states: Sequence[DeviceState]) -> None:
        if not states:
            return
        with self.conn.cursor() as cursor:
            cursor.execute(
                "UPDATE devices AS d SET first_seen = v.f, last_seen = v.l, uuid = v.u, model = v.m, "
                "firmware = v.w, latest_snapshot_id = v.ls, previous_snapshot_id = v.ps, "
                f"lost_entries = {_LOST_SQL.format(previous='v.ps', latest='v.ls')}, "
                f"soonest_expiry = {_SOONEST_SQL.format(latest='v.ls')} "
                "FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], "
                "%s::int[], %s::int[]) AS v(id, f, l, u, m, w, ls, ps) WHERE d.id = v.id",
                (
                    [s.id for s in states],
                    [s.first_seen for s in states],
                    [s.last_seen for s in states],
                    [s.uuid for s in states],
                    [s.model for s in states],
                    [s.firmware for s in states],
                    [s.latest_id for s in states],
                    [s.previous_id for s in states],
                ),
            )


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


def _entry_view(row: Mapping[str, Any], not_after: datetime | None) -> EntryView:
    return EntryView(row["sec_tag"], row["type"], row["sha256"], bool(row["placeholder"]), not_after)


def writer_for(conn: Any) -> Writer:
    """A writer on the driver connection behind an open SQLAlchemy transaction (the caller's `Inventory.write()`),
    for code that stores snapshots together with its own rows in one transaction."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        return PostgresWriter(raw)
    return SqliteWriter(raw)
