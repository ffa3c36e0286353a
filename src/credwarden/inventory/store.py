"""`Inventory`: the fleet inventory's public API (open, record, query). One write = one transaction."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from credwarden.errors import UsageError
from credwarden.inventory import queries
from credwarden.inventory.drift import DriftReport, ExpectedSlot, fleet_status
from credwarden.inventory.drift import drift as drift_report
from credwarden.inventory.engine import create_inventory_engine, resolve_url
from credwarden.inventory.errors import InventoryError
from credwarden.inventory.export import FORMATS, export_csv, export_json, export_prometheus
from credwarden.inventory.importer import ListCapture, ParsedCapture
from credwarden.inventory.migrations import LATEST_VERSION, current_version, migrate
from credwarden.inventory.recording import write_apply, write_snapshots
from credwarden.inventory.records import ApplyRecord, SnapshotRecord, check_digest, check_imei, hostname
from credwarden.inventory.views import ApplyRunView, DeviceSummary, HistoryItem, SnapshotDiff, SnapshotView
from credwarden.models import DeviceInfo, StoredEntry

#: Snapshots per transaction in `record_snapshots_bulk`.
DEFAULT_BATCH = 2000


class Inventory:
    """The fleet inventory in one database (SQLite file by default, PostgreSQL by URL)."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, db: str | None = None, *, migrate_schema: bool = True) -> Inventory:
        """Open (creating and migrating as needed) the inventory at a path or URL; None = env / default."""
        url = resolve_url(db)
        engine = create_inventory_engine(url)
        inventory = cls(engine, url)
        if migrate_schema:
            with inventory._translate():
                migrate(engine)
        return inventory

    @property
    def location(self) -> str:
        """The database URL with any password hidden (for messages and JSON)."""
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------------------------

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise InventoryError(f"inventory database {self.location}: {_first_line(exc.orig)}") from None
        except SQLAlchemyError as exc:
            raise InventoryError(f"inventory database {self.location}: {_first_line(exc)}") from None
        except Exception as exc:
            if not _is_driver_error(exc):  # psycopg errors are raised by COPY, which bypasses SQLAlchemy
                raise
            raise InventoryError(f"inventory database {self.location}: {_first_line(exc)}") from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE); committed on success, rolled back on any error."""
        with self._translate(), self.engine.connect().execution_options(credwarden_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (a consistent view)."""
        with self._translate(), self.engine.connect() as conn, conn.begin():
            yield conn

    def schema_version(self) -> int:
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
    ) -> int:
        """Store what `list` showed on a device; return the snapshot id. Atomic."""
        record = SnapshotRecord.build(
            info, entries, source=source, station=station, taken_at=taken_at, expiries=expiries
        )
        with self.write() as conn:
            return write_snapshots(conn, [record])[0]

    def record_snapshots_bulk(self, records: Iterable[SnapshotRecord], *, batch_size: int = DEFAULT_BATCH) -> int:
        """Store many prepared snapshots, `batch_size` per transaction; return how many were stored."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        stored = 0
        batch: list[SnapshotRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                stored += self._write_batch(batch)
                batch = []
        if batch:
            stored += self._write_batch(batch)
        return stored

    def optimize(self) -> None:
        """Refresh the query planner's statistics (after a large import; PostgreSQL's autovacuum also does it)."""
        with self._translate(), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()

    def _write_batch(self, batch: list[SnapshotRecord]) -> int:
        with self.write() as conn:
            return len(write_snapshots(conn, batch))

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
        with self.write() as conn:
            return write_apply(conn, record, run)

    def record_import(
        self,
        imei: str,
        capture: ParsedCapture,
        *,
        station: str | None = None,
        partial: bool = False,
        default_time: datetime | None = None,
    ) -> list[int]:
        """Store every listing of an imported capture (one transaction); return the snapshot ids.

        A partial listing (`partial=True`, or a capture of `AT%CMNG=1,<tag>`) only speaks for the sec_tags it
        covers: the device's other entries are carried over from its snapshot at or before that time.
        """
        info = DeviceInfo(
            imei=check_imei(imei),
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
        with self.write() as conn:
            for listing in capture.listings:
                when = listing.taken_at or default_time or now
                entries = list(listing.entries)
                expiries: dict[tuple[int, int], datetime] = {}
                if partial or listing.only_sec_tag is not None:
                    for old in queries.entries_at(conn, info.imei or "", when):
                        if not _covers(listing, listing.entries, old.sec_tag, old.type):
                            entries.append(StoredEntry(old.sec_tag, old.type, old.sha256))
                            if old.not_after is not None:
                                expiries[old.key] = old.not_after
                record = SnapshotRecord.build(
                    info, entries, source="import", station=station, taken_at=when, expiries=expiries
                )
                ids.extend(write_snapshots(conn, [record]))
        return ids

    # -- queries ---------------------------------------------------------------------------------------------------

    def devices(self) -> list[DeviceSummary]:
        with self.read() as conn:
            return queries.list_devices(conn)

    def device_imei(self, ref: str) -> str:
        """Resolve IMEI / UUID / unique prefix to the IMEI (UnknownDevice otherwise)."""
        with self.read() as conn:
            return queries.find_device(conn, ref).imei

    def latest(self, ref: str) -> SnapshotView | None:
        """The device's newest snapshot (by taken_at), or None if it only has apply runs."""
        with self.read() as conn:
            device = queries.find_device(conn, ref)
            if device.latest_snapshot_id is None:
                return None
            return queries.snapshot_view(conn, device.latest_snapshot_id)

    def snapshot(self, snapshot_id: int) -> SnapshotView:
        with self.read() as conn:
            return queries.snapshot_view(conn, snapshot_id)

    def history(self, ref: str) -> tuple[list[HistoryItem], list[ApplyRunView]]:
        """The device's snapshots (with changes) and apply runs, oldest first."""
        with self.read() as conn:
            device = queries.find_device(conn, ref)
            return queries.history(conn, device), queries.apply_runs(conn, device)

    def diff(self, ref: str, from_ref: str | None = None, to_ref: str | None = None) -> SnapshotDiff:
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
        if fmt not in FORMATS:
            raise UsageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
        now = now or datetime.now(UTC)
        with self.read() as conn:
            statuses = fleet_status(conn, expected, now=now, days=days, with_expiries=True)
        if fmt == "csv":
            return export_csv(statuses, now)
        if fmt == "prometheus":
            return export_prometheus(statuses, now)
        return export_json(statuses, now, manifest)


def _covers(listing: ListCapture, entries: list[StoredEntry], sec_tag: int, type_code: int) -> bool:
    """Whether a partial listing speaks for (sec_tag, type): its filter, else the sec_tags it lists."""
    if listing.only_sec_tag is not None:
        return sec_tag == listing.only_sec_tag and listing.only_type in (None, type_code)
    return any(e.sec_tag == sec_tag for e in entries)


def _is_driver_error(exc: Exception) -> bool:
    """True for a psycopg error; psycopg is only loaded for PostgreSQL URLs, so it is not imported here."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["DEFAULT_BATCH", "LATEST_VERSION", "Inventory"]
