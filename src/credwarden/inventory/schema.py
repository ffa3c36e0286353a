"""SQLAlchemy 2 models of the fleet inventory (the schema at the newest migration step).

Only digests are stored: there is deliberately no column that could hold credential content, passwords or
command text. Tables are created and upgraded by `credwarden.inventory.migrations`, never by `create_all`
on a live database; a test checks that the migrated schema equals these models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from credwarden.inventory.records import IMEI_LEN, REASON_LEN, TEXT_LEN, UUID_LEN


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text, PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("inventory timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the inventory tables."""


class SchemaVersion(Base):
    """One row per applied migration step."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)
    description: Mapped[str] = mapped_column(String(TEXT_LEN))


class Device(Base):
    """A modem, identified by its IMEI."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(IMEI_LEN), unique=True)
    uuid: Mapped[str | None] = mapped_column(String(UUID_LEN), index=True)
    model: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    firmware: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the snapshot with the newest taken_at (kept by every write; makes fleet-wide drift one join)
    latest_snapshot_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("snapshots.id", use_alter=True))
    #: the snapshot before it (drift: credentials a device had and lost)
    previous_snapshot_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("snapshots.id", use_alter=True))
    #: entries of the previous snapshot missing from the latest (kept by every write)
    lost_entries: Mapped[int] = mapped_column(Integer, default=0)
    #: earliest known notAfter among the latest snapshot's entries
    soonest_expiry: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Snapshot(Base):
    """What one device's credential list looked like at one moment."""

    __tablename__ = "snapshots"
    __table_args__ = (
        CheckConstraint("source IN ('live', 'import', 'apply')", name="ck_snapshots_source"),
        Index("ix_snapshots_device_taken", "device_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id"))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    station: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    host: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    source: Mapped[str] = mapped_column(String(16))
    firmware: Mapped[str | None] = mapped_column(String(TEXT_LEN))


class Entry(Base):
    """One `%CMNG` list line of a snapshot: tag, type and digest (never content)."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("snapshot_id", "sec_tag", "type", name="uq_entries_snapshot_tag_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(Integer, ForeignKey("snapshots.id"))
    sec_tag: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    placeholder: Mapped[bool] = mapped_column(Boolean)
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApplyRun(Base):
    """One provisioning run against one device."""

    __tablename__ = "apply_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id"), index=True)
    station: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    host: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    manifest_digest: Mapped[str | None] = mapped_column(String(64))


class ApplyAction(Base):
    """One action of an apply run (write / delete / keep / keygen ...), with its outcome."""

    __tablename__ = "apply_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("apply_runs.id"), index=True)
    sec_tag: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(REASON_LEN))
