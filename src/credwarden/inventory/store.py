"""`Inventory`: the fleet inventory's public API (open, record, query, forget, prune). One write = one transaction.

Opening a SQLite inventory that is already at the newest schema and recording into it loads no SQLAlchemy:
the version check and the writes go through the driver (`writers`). Reads, migrations and maintenance use a
SQLAlchemy engine, created on first use.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from credwarden.errors import UsageError
from credwarden.inventory.errors import InventoryError
from credwarden.inventory.location import DbLocation, resolve_location
from credwarden.inventory.migrations import LATEST_VERSION, newer_schema_error
from credwarden.inventory.recording import write_apply, write_snapshots
from credwarden.inventory.records import ApplyRecord, SnapshotRecord, check_digest, check_imei, hostname
from credwarden.inventory.writers import PostgresWriter, SqliteWriter, Writer
from credwarden.models import DeviceInfo, StoredEntry

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL

    from credwarden.inventory.drift import DriftReport, ExpectedSlot
    from credwarden.inventory.importer import ListCapture, ParsedCapture
    from credwarden.inventory.maintenance import ForgetResult, PruneResult
    from credwarden.inventory.views import ApplyRunView, DeviceSummary, HistoryItem, SnapshotDiff, SnapshotView

#: Snapshots per transaction in `record_snapshots_bulk`.
DEFAULT_BATCH = 2000


class Inventory:
    """The fleet inventory in one database (SQLite file by default, PostgreSQL by URL)."""

    def __init__(self, location: DbLocation) -> None:
        self._location = location
        self._engine: Engine | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()

    @classmethod
    def open(cls, db: str | None = None, *, migrate_schema: bool = True, create_dirs: bool = False) -> Inventory:
        """Open (creating and migrating as needed) the inventory at a path or URL; None = env / default.

        A SQLite path whose directory does not exist is refused unless `create_dirs` (the per-user default
        location is always created)."""
        inventory = cls(resolve_location(db, create_dirs=create_dirs))
        if migrate_schema:
            try:
                inventory._ensure_schema()
            except BaseException:
                inventory.close()
                raise
        return inventory

    @property
    def location(self) -> str:
        """The database (file path, or URL with any password hidden) for messages and JSON."""
        return self._location.display()

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._location.backend

    @property
    def url(self) -> URL:
        from credwarden.inventory.engine import location_url

        return location_url(self._location)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the read queries and migrations (created on first use)."""
        if self._engine is None:
            from credwarden.inventory.engine import create_inventory_engine

            self._engine = create_inventory_engine(self.url)
        return self._engine

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Inventory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """Migrate unless the database is already at the newest version (checked with one cheap query)."""
        with self._translate():
            version = self._quick_version()
            if version == LATEST_VERSION:
                return
            if version is not None and version > LATEST_VERSION:
                raise newer_schema_error(version)
            from credwarden.inventory.migrations import migrate

            migrate(self.engine)

    def _quick_version(self) -> int | None:
        """The schema version by the driver, None when it cannot be read that way (no table yet)."""
        if self._location.sqlite_path is None:
            return None  # PostgreSQL: the migration reads it under its lock (the engine is needed anyway)
        try:
            row = self._sqlite_conn().execute("SELECT MAX(version) FROM schema_version").fetchone()
        except sqlite3.OperationalError:
            return None
        return int(row[0] or 0)

    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._sqlite is None:
            from credwarden.inventory.connect import open_sqlite

            assert self._location.sqlite_path is not None
            self._sqlite = open_sqlite(self._location.sqlite_path)
        return self._sqlite

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise InventoryError(f"inventory database {self.location}: {_first_line(exc)}") from None
        except Exception as exc:
            message = _database_error(exc)
            if message is None:
                raise
            raise InventoryError(f"inventory database {self.location}: {message}") from None

    @contextmanager
    def _writing(self) -> Iterator[Writer]:
        """One write transaction on the driver connection; committed on success, rolled back on any error."""
        with self._translate(), self._write_lock:
            if self._location.sqlite_path is not None:
                writer: Writer = SqliteWriter(self._sqlite_conn())
                with _transaction(writer):
                    yield writer
                return
            raw = self.engine.raw_connection()
            try:
                writer = PostgresWriter(raw.driver_connection)
                with _transaction(writer):
                    yield writer
            finally:
                raw.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One SQLAlchemy write transaction (SQLite: BEGIN IMMEDIATE); committed on success, rolled back on error."""
        with self._translate(), self.engine.connect().execution_options(credwarden_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (a consistent view)."""
        with self._translate(), self.engine.connect() as conn, conn.begin():
            yield conn

    def schema_version(self) -> int:
        from credwarden.inventory.migrations import current_version

        with self.read() as conn:
            return current_version(conn)

    # -- recording -----------------------------------------------------------------------------------------------

    def record_snapshot(
        self,
        info: DeviceInfo,
        entries: Iterable[StoredEntry],
        *,
        source: str,
        station: str | None = None,
        taken_at: datetime | None = None,
        expiries: Mapping[tuple[int, int], datetime] | None = None,
        any_id: bool = False,
    ) -> int:
        """Store what `list` showed on a device; return the snapshot id. Atomic.

        `any_id`: the device id need not be an IMEI (see `records.check_imei`)."""
        record = SnapshotRecord.build(
            info, entries, source=source, station=station, taken_at=taken_at, expiries=expiries, any_id=any_id
        )
        with self._writing() as writer:
            return write_snapshots(writer, [record])[0]

    def record_snapshots_bulk(
        self, records: Iterable[SnapshotRecord], *, batch_size: int = DEFAULT_BATCH, any_id: bool = False
    ) -> int:
        """Store many prepared snapshots, `batch_size` per transaction; return how many were stored.

        Every record's device id is checked first (an IMEI unless `any_id`)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        stored = 0
        checked: set[str] = set()
        batch: list[SnapshotRecord] = []
        for record in records:
            if record.imei not in checked:
                check_imei(record.imei, any_id=any_id)
                checked.add(record.imei)
            batch.append(record)
            if len(batch) >= batch_size:
                stored += self._write_batch(batch)
                batch = []
        if batch:
            stored += self._write_batch(batch)
        return stored

    def _write_batch(self, batch: list[SnapshotRecord]) -> int:
        with self._writing() as writer:
            return len(write_snapshots(writer, batch))

    def optimize(self) -> None:
        """After a large import: refresh the planner's statistics (and on PostgreSQL the visibility map, so
        fleet queries read the indexes alone) - what autovacuum does on its own some time later."""
        with self._translate(), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE)")
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()

    def record_apply(
        self, info: DeviceInfo, report: Any, station: str | None = None, *, manifest_digest: str | None = None
    ) -> int:
        """Store an apply run (`ApplyReport`, or any object/dict with `ok` and `actions`); return its id."""
        run = ApplyRecord.from_report(report)
        if manifest_digest is not None and run.manifest_digest is None:
            run = replace(run, manifest_digest=check_digest(manifest_digest))
        record = SnapshotRecord(
            imei=check_imei(info.imei),
            taken_at=run.started_at,
            source="apply",
            entries=(),
            uuid=info.uuid,
            model=info.model,
            firmware=info.firmware,
            station=station,
            host=hostname(),
        )
        with self._writing() as writer:
            return write_apply(writer, record, run)

    def record_import(
        self,
        imei: str,
        capture: ParsedCapture,
        *,
        station: str | None = None,
        partial: bool | None = None,
        default_time: datetime | None = None,
        any_id: bool = False,
    ) -> list[int]:
        """Store every listing of an imported capture (one transaction); return the snapshot ids.

        A partial listing only speaks for the sec_tags it covers: the device's other entries are carried
        over from its snapshot at or before that time. `partial=None` decides per listing (`ListCapture.complete`:
        only a listing answering a full `AT%CMNG=1` with its final OK is complete); True / False force it.
        """
        info = DeviceInfo(
            imei=check_imei(imei, any_id=any_id),
            model=None,
            firmware=None,
            firmware_version=None,
            uuid=None,
            modem_build_uuid=None,
            cfun=None,
            dialect="unknown",
        )
        now = datetime.now(UTC)
        ids: list[int] = []
        with self._writing() as writer:
            for listing in capture.listings:
                when = listing.taken_at or default_time or now
                entries = list(listing.entries)
                expiries: dict[tuple[int, int], datetime] = {}
                is_partial = not listing.complete if partial is None else partial or listing.only_sec_tag is not None
                if is_partial:
                    for old in writer.entries_at(info.imei or "", when):
                        if not _covers(listing, listing.entries, old.sec_tag, old.type):
                            entries.append(StoredEntry(old.sec_tag, old.type, old.sha256))
                            if old.not_after is not None:
                                expiries[old.key] = old.not_after
                record = SnapshotRecord.build(
                    info, entries, source="import", station=station, taken_at=when, expiries=expiries, any_id=any_id
                )
                ids.extend(write_snapshots(writer, [record]))
        return ids

    # -- maintenance -----------------------------------------------------------------------------------------------

    def forget(self, ref: str, *, dry_run: bool = False) -> ForgetResult:
        """Remove a device with all its snapshots and apply runs (`dry_run`: only count what would go)."""
        from credwarden.inventory.maintenance import forget_device

        with self.write() as conn:
            return forget_device(conn, ref, dry_run=dry_run)

    def prune(
        self, *, older_than_days: float, keep_last: int = 1, dry_run: bool = False, now: datetime | None = None
    ) -> PruneResult:
        """Delete snapshots taken more than `older_than_days` ago, keeping each device's newest `keep_last` and
        the latest two (what drift compares); `dry_run`: only count."""
        from credwarden.inventory.maintenance import prune_snapshots

        with self.write() as conn:
            return prune_snapshots(conn, older_than_days=older_than_days, keep_last=keep_last, dry_run=dry_run, now=now)

    # -- queries ---------------------------------------------------------------------------------------------------

    def devices(self) -> list[DeviceSummary]:
        from credwarden.inventory import queries

        with self.read() as conn:
            return queries.list_devices(conn)

    def device_imei(self, ref: str) -> str:
        """Resolve IMEI / UUID / unique prefix to the IMEI (UnknownDevice otherwise)."""
        from credwarden.inventory import queries

        with self.read() as conn:
            return queries.find_device(conn, ref).imei

    def latest(self, ref: str) -> SnapshotView | None:
        """The device's newest snapshot (by taken_at), or None if it only has apply runs."""
        from credwarden.inventory import queries

        with self.read() as conn:
            device = queries.find_device(conn, ref)
            if device.latest_snapshot_id is None:
                return None
            return queries.snapshot_view(conn, device.latest_snapshot_id)

    def snapshot(self, snapshot_id: int) -> SnapshotView:
        from credwarden.inventory import queries

        with self.read() as conn:
            return queries.snapshot_view(conn, snapshot_id)

    def history(self, ref: str) -> tuple[list[HistoryItem], list[ApplyRunView]]:
        """The device's snapshots (with changes) and apply runs, oldest first."""
        from credwarden.inventory import queries

        with self.read() as conn:
            device = queries.find_device(conn, ref)
            return queries.history(conn, device), queries.apply_runs(conn, device)

    def diff(self, ref: str, from_ref: str | None = None, to_ref: str | None = None) -> SnapshotDiff:
        from credwarden.inventory import queries

        with self.read() as conn:
            return queries.diff(conn, queries.find_device(conn, ref), from_ref, to_ref)

    def drift(
        self,
        expected: Sequence[ExpectedSlot] = (),
        *,
        manifest: str | None = None,
        days: int = 30,
        now: datetime | None = None,
    ) -> DriftReport:
        """Devices whose latest snapshot lacks / differs from `expected`, lost entries, or expires within `days`."""
        from credwarden.inventory.drift import drift as drift_report

        with self.read() as conn:
            return drift_report(conn, expected, manifest=manifest, days=days, now=now)

    def export(
        self,
        fmt: str,
        expected: Sequence[ExpectedSlot] = (),
        *,
        manifest: str | None = None,
        days: int = 30,
        now: datetime | None = None,
    ) -> str:
        """The fleet's latest state as `json`, `csv` or `prometheus` text."""
        from credwarden.inventory.export import FORMATS, export_fleet

        if fmt not in FORMATS:
            raise UsageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
        with self.read() as conn:
            return export_fleet(conn, fmt, expected, manifest=manifest, days=days, now=now or datetime.now(UTC))


@contextmanager
def _transaction(writer: Writer) -> Iterator[None]:
    writer.begin()
    try:
        yield
    except BaseException:
        writer.rollback()
        raise
    writer.commit()


def _covers(listing: ListCapture, entries: list[StoredEntry], sec_tag: int, type_code: int) -> bool:
    """Whether a partial listing speaks for (sec_tag, type): its filter, else the sec_tags it lists."""
    if listing.only_sec_tag is not None:
        return sec_tag == listing.only_sec_tag and listing.only_type in (None, type_code)
    return any(e.sec_tag == sec_tag for e in entries)


def _database_error(exc: Exception) -> str | None:
    """The first line of a SQLAlchemy or psycopg error, None for anything else.

    Neither library is imported here: only an error of a module already loaded can have been raised."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None:
        if isinstance(exc, sqlalchemy_exc.DBAPIError):
            return _first_line(exc.orig)
        if isinstance(exc, sqlalchemy_exc.SQLAlchemyError):
            return _first_line(exc)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return _first_line(exc)
    return None


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["DEFAULT_BATCH", "LATEST_VERSION", "Inventory"]
