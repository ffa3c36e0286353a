"""Schema versions of the inventory: ordered migration steps, applied at open, recorded in `schema_version`.

Each step is a function over a `Connection` inside one transaction (DDL is transactional on SQLite and
PostgreSQL), so a database is always at exactly one version. Openers serialise on a lock (SQLite: the write
lock of `BEGIN IMMEDIATE`; PostgreSQL: an advisory transaction lock) and re-read the version under it, so
several stations opening a fresh database at once migrate it once.

Never edit a released step: add a new one at the end of `STEPS`. Importing this module loads no SQLAlchemy
(`LATEST_VERSION` is read by the light open path); the steps load it when they run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from credwarden.inventory.errors import InventoryError
from credwarden.inventory.vocabulary import IMEI_LEN, REASON_LEN, TEXT_LEN, UUID_LEN

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData

_ADVISORY_LOCK_KEY = 0x43_57_49_4E  # "CWIN"


@dataclass(frozen=True)
class Step:
    """One migration step: from `version - 1` to `version`."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_metadata() -> MetaData:
    """The schema as released in version 1 (frozen: later changes are separate steps)."""
    from sqlalchemy import (
        BigInteger,
        Boolean,
        CheckConstraint,
        Column,
        DateTime,
        ForeignKey,
        Integer,
        MetaData,
        String,
        Table,
        UniqueConstraint,
    )

    md = MetaData()
    ts = DateTime(timezone=True)
    Table(
        "schema_version",
        md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("applied_at", ts, nullable=False),
        Column("description", String(TEXT_LEN), nullable=False),
    )
    Table(
        "devices",
        md,
        Column("id", Integer, primary_key=True),
        Column("imei", String(IMEI_LEN), nullable=False, unique=True),
        Column("uuid", String(UUID_LEN), index=True),
        Column("model", String(TEXT_LEN)),
        Column("firmware", String(TEXT_LEN)),
        Column("first_seen", ts, nullable=False),
        Column("last_seen", ts, nullable=False),
    )
    Table(
        "snapshots",
        md,
        Column("id", Integer, primary_key=True),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False, index=True),
        Column("taken_at", ts, nullable=False),
        Column("station", String(TEXT_LEN)),
        Column("host", String(TEXT_LEN)),
        Column("source", String(16), nullable=False),
        Column("firmware", String(TEXT_LEN)),
        CheckConstraint("source IN ('live', 'import', 'apply')", name="ck_snapshots_source"),
    )
    Table(
        "entries",
        md,
        Column("id", Integer, primary_key=True),
        Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=False),
        Column("sec_tag", BigInteger, nullable=False),
        Column("type", Integer, nullable=False),
        Column("sha256", String(64)),
        Column("placeholder", Boolean, nullable=False),
        Column("not_after", ts),
        UniqueConstraint("snapshot_id", "sec_tag", "type", name="uq_entries_snapshot_tag_type"),
    )
    Table(
        "apply_runs",
        md,
        Column("id", Integer, primary_key=True),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False, index=True),
        Column("station", String(TEXT_LEN)),
        Column("host", String(TEXT_LEN)),
        Column("started_at", ts, nullable=False),
        Column("finished_at", ts),
        Column("ok", Boolean, nullable=False),
        Column("manifest_digest", String(64)),
    )
    Table(
        "apply_actions",
        md,
        Column("id", Integer, primary_key=True),
        Column("run_id", Integer, ForeignKey("apply_runs.id"), nullable=False, index=True),
        Column("sec_tag", BigInteger, nullable=False),
        Column("type", Integer, nullable=False),
        Column("action", String(32), nullable=False),
        Column("status", String(32), nullable=False),
        Column("reason", String(REASON_LEN)),
    )
    return md


def _step1_initial(conn: Connection) -> None:
    _v1_metadata().create_all(conn)


def _step2_latest_snapshot(conn: Connection) -> None:
    """Denormalise each device's newest snapshot (and the one before) so fleet-wide queries are one join."""
    from sqlalchemy import text

    conn.execute(text("ALTER TABLE devices ADD COLUMN latest_snapshot_id INTEGER REFERENCES snapshots(id)"))
    conn.execute(text("ALTER TABLE devices ADD COLUMN previous_snapshot_id INTEGER REFERENCES snapshots(id)"))
    conn.execute(text("DROP INDEX ix_snapshots_device_id"))
    conn.execute(text("CREATE INDEX ix_snapshots_device_taken ON snapshots (device_id, taken_at)"))
    conn.execute(
        text(
            "UPDATE devices SET latest_snapshot_id = (SELECT s.id FROM snapshots s WHERE s.device_id = devices.id "
            "ORDER BY s.taken_at DESC, s.id DESC LIMIT 1)"
        )
    )
    conn.execute(
        text(
            "UPDATE devices SET previous_snapshot_id = (SELECT s.id FROM snapshots s WHERE s.device_id = devices.id "
            "AND s.id <> devices.latest_snapshot_id ORDER BY s.taken_at DESC, s.id DESC LIMIT 1)"
        )
    )


def _step3_device_summary(conn: Connection) -> None:
    """Keep per device what fleet-wide drift needs without touching the entries of healthy devices."""
    from sqlalchemy import text

    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text("ALTER TABLE devices ADD COLUMN lost_entries INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text(f"ALTER TABLE devices ADD COLUMN soonest_expiry {timestamp}"))
    conn.execute(
        text(
            "UPDATE devices SET lost_entries = (SELECT COUNT(*) FROM entries p WHERE p.snapshot_id = "
            "devices.previous_snapshot_id AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.snapshot_id = "
            "devices.latest_snapshot_id AND e.sec_tag = p.sec_tag AND e.type = p.type)), "
            "soonest_expiry = (SELECT MIN(e.not_after) FROM entries e WHERE e.snapshot_id = devices.latest_snapshot_id)"
        )
    )


def _v4_metadata() -> MetaData:
    """The field-report tables as released in version 4 (devices / snapshots only as foreign-key targets)."""
    from sqlalchemy import (
        BigInteger,
        CheckConstraint,
        Column,
        DateTime,
        ForeignKey,
        Index,
        Integer,
        MetaData,
        PrimaryKeyConstraint,
        String,
        Table,
        text,
    )

    md = MetaData()
    ts = DateTime(timezone=True)
    Table("devices", md, Column("id", Integer, primary_key=True))
    Table("snapshots", md, Column("id", Integer, primary_key=True))
    Table(
        "reports",
        md,
        Column("id", Integer, primary_key=True),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
        Column("received_at", ts, nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("uptime_s", BigInteger),
        Column("app_version", String(TEXT_LEN)),
        Column("firmware", String(TEXT_LEN)),
        Column("tls_errors", String(TEXT_LEN)),
        Column("list_status", String(16), nullable=False),
        Column("list_error", String(64)),
        Column("snapshot_id", Integer, ForeignKey("snapshots.id")),
        Column("transport", String(16), nullable=False),
        Column("extra_fields", String(TEXT_LEN)),
        CheckConstraint("list_status IN ('complete', 'incomplete', 'absent')", name="ck_reports_list_status"),
        CheckConstraint("transport IN ('mqtt', 'http', 'sms', 'import')", name="ck_reports_transport"),
        Index("ix_reports_device_received", "device_id", "received_at"),
    )
    Table(
        "alerts",
        md,
        Column("id", Integer, primary_key=True),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False, index=True),
        Column("kind", String(16), nullable=False),
        Column("sec_tag", BigInteger),
        Column("type", Integer),
        Column("since", ts, nullable=False),
        Column("fired_at", ts, nullable=False),
        Column("resolved_at", ts, index=True),
        Column("detail", String(REASON_LEN)),
        Column("notified_at", ts),
        Column("resolve_notified_at", ts),
        CheckConstraint(
            "kind IN ('vanished', 'changed', 'appeared', 'unexpected', 'expiring', 'expired', 'silent', 'tls-error')",
            name="ck_alerts_kind",
        ),
    )
    Table(
        "slot_states",
        md,
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
        Column("sec_tag", BigInteger, nullable=False, autoincrement=False),
        Column("type", Integer, nullable=False, autoincrement=False),
        Column("state", String(16), nullable=False),
        Column("since", ts, nullable=False),
        Column("sha256", String(64)),
        Column("pending_state", String(16)),
        Column("pending_count", Integer, nullable=False, server_default=text("0")),
        Column("pending_since", ts),
        PrimaryKeyConstraint("device_id", "sec_tag", "type", name="pk_slot_states"),
    )
    return md


_OLD_SOURCE_CHECK = re.compile(r"CHECK \(source IN \('live', 'import', 'apply'\)\)")
_NEW_SOURCE_CHECK = "CHECK (source IN ('live', 'import', 'apply', 'report'))"


def _step4_field_reports(conn: Connection) -> None:
    """Field reports, alerts and the collector's per-slot states; snapshots may come from a report."""
    from sqlalchemy import text

    md = _v4_metadata()
    md.create_all(conn, tables=[md.tables[name] for name in ("reports", "alerts", "slot_states")])
    postgres = conn.dialect.name == "postgresql"
    timestamp = "TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"
    conn.execute(text(f"ALTER TABLE devices ADD COLUMN last_report_at {timestamp}"))
    conn.execute(text("ALTER TABLE devices ADD COLUMN last_report_id INTEGER REFERENCES reports(id)"))
    conn.execute(text("CREATE INDEX ix_devices_last_report_at ON devices (last_report_at)"))
    if postgres:
        conn.execute(text("ALTER TABLE snapshots DROP CONSTRAINT ck_snapshots_source"))
        conn.execute(text(f"ALTER TABLE snapshots ADD CONSTRAINT ck_snapshots_source {_NEW_SOURCE_CHECK}"))
    else:
        _sqlite_widen_source_check(conn)


def _sqlite_widen_source_check(conn: Connection) -> None:
    """SQLite cannot alter a CHECK constraint: the stored table definition is loosened in place."""
    _sqlite_loosen_table(conn, "snapshots", _OLD_SOURCE_CHECK, _NEW_SOURCE_CHECK, step=4)


def _sqlite_loosen_table(
    conn: Connection, table: str, pattern: re.Pattern[str], replacement: str, *, step: int
) -> None:
    """Drop or widen a constraint of `table` by editing its stored definition.

    A table rebuild is impossible inside the migration transaction (the parent of foreign keys, and
    `foreign_keys` cannot be switched off in a transaction), so the stored table definition is edited in place,
    the procedure SQLite documents for removing or loosening CHECK and FOREIGN KEY constraints: the rows stay
    as they are, every one of them satisfies the looser definition."""
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    new_sql, count = pattern.subn(replacement, str(sql or ""))
    if count != 1:
        raise InventoryError(f"inventory schema step {step}: the {table} table is not the one this credwarden created")
    version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar() or 0)
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (new_sql, table))
        conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")  # other connections re-read the schema
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    check = conn.exec_driver_sql("PRAGMA quick_check").scalar()
    if check != "ok":
        raise InventoryError(f"inventory schema step {step}: integrity check failed after the change ({check})")


_ENTRIES_SNAPSHOT_FK = re.compile(r",\s*FOREIGN KEY\s*\(snapshot_id\)\s*REFERENCES snapshots\s*\(id\)")


def _step5_unchecked_entry_parent(conn: Connection) -> None:
    """entries.snapshot_id is no longer a checked foreign key.

    The check ran once per entry row and was most of a bulk ingest's cost on PostgreSQL (a trigger firing a
    lookup per row: 600,000 entries took 5.8 s with it, 2.1 s without). The writer inserts a snapshot and its
    entries in one transaction, and removal (forget, prune) deletes entries before their snapshot."""
    if conn.dialect.name != "postgresql":
        _sqlite_loosen_table(conn, "entries", _ENTRIES_SNAPSHOT_FK, "", step=5)
        return
    from sqlalchemy import text

    names = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'entries'::regclass AND contype = 'f' "
            "AND confrelid = 'snapshots'::regclass"
        )
    ).scalars()
    for name in names.all():
        conn.execute(text(f'ALTER TABLE entries DROP CONSTRAINT "{name}"'))


STEPS: tuple[Step, ...] = (
    Step(1, "initial schema: devices, snapshots, entries, apply runs and actions", _step1_initial),
    Step(
        2,
        "devices.latest_snapshot_id / previous_snapshot_id, index snapshots(device_id, taken_at)",
        _step2_latest_snapshot,
    ),
    Step(3, "devices.lost_entries / soonest_expiry (fleet drift without scanning entries)", _step3_device_summary),
    Step(
        4,
        "field reports: reports, alerts, slot_states, devices.last_report_at / last_report_id, source 'report'",
        _step4_field_reports,
    ),
    Step(5, "entries.snapshot_id without a per-row foreign-key check (bulk ingest)", _step5_unchecked_entry_parent),
)
LATEST_VERSION = STEPS[-1].version


def newer_schema_error(version: int) -> InventoryError:
    """The refusal to touch a database migrated by a newer credwarden."""
    return InventoryError(
        f"the inventory database has schema version {version}, newer than this credwarden "
        f"understands ({LATEST_VERSION}); upgrade credwarden"
    )


def current_version(conn: Connection) -> int:
    """The schema version of the database behind `conn` (0 for an empty database)."""
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(value or 0)


def migrate(engine: Engine, *, target: int = LATEST_VERSION) -> int:
    """Bring the database up to `target` (default: the newest version); return the version reached."""
    from sqlalchemy import text

    if not 0 < target <= LATEST_VERSION:
        raise InventoryError(f"unknown inventory schema version {target} (newest is {LATEST_VERSION})")
    with engine.connect().execution_options(credwarden_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        version = current_version(conn)
        if version > LATEST_VERSION:
            raise newer_schema_error(version)
        for step in STEPS:
            if version < step.version <= target:
                step.apply(conn)
                conn.execute(
                    text("INSERT INTO schema_version (version, applied_at, description) VALUES (:v, :t, :d)"),
                    {"v": step.version, "t": _now_for(conn), "d": step.description},
                )
                version = step.version
        return version


def _now_for(conn: Connection) -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
