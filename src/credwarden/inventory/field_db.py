"""Driver-level access for the field-report tables (reports, alerts, slot_states) inside a caller's transaction.

The collector writes thousands of small rows per second, so these paths skip the ORM: SQLite through
`executemany`, PostgreSQL through array parameters and binary `COPY`. Times travel in each backend's native
form (SQLite: naive UTC text in SQLAlchemy's format, which sorts like the time; PostgreSQL: aware datetimes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: Values per `IN (...)` list on SQLite (well below its variable limit).
SQLITE_CHUNK = 500

#: PostgreSQL types of the columns written by COPY (binary COPY sends each value in its column's type).
_PG_TYPES = {
    "id": "int4",
    "device_id": "int4",
    "snapshot_id": "int4",
    "type": "int4",
    "pending_count": "int4",
    "sec_tag": "int8",
    "seq": "int8",
    "uptime_s": "int8",
    "received_at": "timestamptz",
    "since": "timestamptz",
    "pending_since": "timestamptz",
    "fired_at": "timestamptz",
    "resolved_at": "timestamptz",
    "notified_at": "timestamptz",
    "resolve_notified_at": "timestamptz",
}


class FieldDb:
    """The raw connection behind a SQLAlchemy write transaction, with the few operations report ingest needs."""

    def __init__(self, conn: Connection) -> None:
        self.sa = conn
        self.postgres = conn.dialect.name == "postgresql"
        raw = conn.connection.driver_connection
        assert raw is not None
        self.raw: Any = raw

    def time(self, value: datetime | None) -> Any:
        """A UTC datetime as the driver takes it."""
        if value is None or self.postgres:
            return value
        return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)

    def read_time(self, value: Any) -> datetime | None:
        """A time read from the driver, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query (`%s` placeholders on PostgreSQL, `?` on SQLite: the caller writes the SQL)."""
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, tuple(params))
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cursor = self.raw.cursor()
        try:
            cursor.executemany(sql, [tuple(r) for r in rows])
        finally:
            cursor.close()

    def fetch_in(self, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """`sql` with one `{in}` marker for a list of values: `= ANY(%s)` on PostgreSQL, chunked `IN` on SQLite."""
        if not values:
            return []
        if self.postgres:
            return self.fetch(sql.format(inlist="= ANY(%s)"), (list(values),))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), SQLITE_CHUNK):
            chunk = list(values[start : start + SQLITE_CHUNK])
            rows += self.fetch(sql.format(inlist=f"IN ({', '.join('?' for _ in chunk)})"), chunk)
        return rows

    def new_ids(self, table: str, count: int) -> list[int]:
        """Primary keys for `count` new rows (the write lock / the sequence keeps them unique across writers)."""
        if count == 0:
            return []
        if self.postgres:
            rows = self.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", (count,)
            )
            return [int(r[0]) for r in rows]
        top = self.fetch(f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]
        return list(range(int(top) + 1, int(top) + 1 + count))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows (values in `columns` order): binary COPY on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        if self.postgres:
            with (
                self.raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types([_PG_TYPES.get(c, "text") for c in columns])
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    @property
    def mark(self) -> str:
        """The driver's parameter placeholder."""
        return "%s" if self.postgres else "?"
