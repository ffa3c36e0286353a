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

from credwarden.inventory.vocabulary import (
    ALERT_KINDS,
    DIGEST_LEN,
    IMEI_LEN,
    LIST_STATUSES,
    REASON_LEN,
    REPORT_TRANSPORTS,
    SLOT_STATES,
    SOURCES,
    STATE_LEN,
    TEXT_LEN,
    TLS_SLOT_TYPE,
    UUID_LEN,
)


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
    #: when the newest field report arrived (kept by every report ingest; `silent` devices are found by it)
    last_report_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    #: the newest field report
    last_report_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reports.id", use_alter=True))


class Snapshot(Base):
    """What one device's credential list looked like at one moment."""

    __tablename__ = "snapshots"
    __table_args__ = (
        CheckConstraint("source IN ('live', 'import', 'apply', 'report')", name="ck_snapshots_source"),
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
    #: not a checked foreign key (schema step 5): the writer stores a snapshot with its entries in one transaction
    snapshot_id: Mapped[int] = mapped_column(Integer)
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


class Report(Base):
    """One field report a device sent about itself (CW/1 or its SMS form): header fields, never content.

    A report whose credential list is complete and differs from the device's latest snapshot created
    `snapshot_id`; an unchanged list confirms the latest snapshot (a heartbeat: no entry rows); an
    incomplete or absent list has no snapshot.
    """

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("list_status IN ('complete', 'incomplete', 'absent')", name="ck_reports_list_status"),
        CheckConstraint("transport IN ('mqtt', 'http', 'sms', 'import')", name="ck_reports_transport"),
        Index("ix_reports_device_received", "device_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seq: Mapped[int] = mapped_column(BigInteger)
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)
    app_version: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    firmware: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    #: TLS connect failures the device reported, normalised `sec_tag:error,...` (e.g. `1000:-95`)
    tls_errors: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    list_status: Mapped[str] = mapped_column(String(STATE_LEN))
    #: why an incomplete list ended (`-7`, `CME 513`, `ERROR`), None otherwise
    list_error: Mapped[str | None] = mapped_column(String(STATE_LEN * 4))
    snapshot_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("snapshots.id"))
    transport: Mapped[str] = mapped_column(String(STATE_LEN))
    #: header keys this version does not interpret, `key=value ...` (kept, clipped)
    extra_fields: Mapped[str | None] = mapped_column(String(TEXT_LEN))


class Alert(Base):
    """A confirmed transition of one slot (or of a whole device: `silent`) into a state that needs action."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('vanished', 'changed', 'appeared', 'unexpected', 'expiring', 'expired', 'silent', 'tls-error')",
            name="ck_alerts_kind",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(STATE_LEN))
    sec_tag: Mapped[int | None] = mapped_column(BigInteger)
    type: Mapped[int | None] = mapped_column(Integer)
    #: when the condition started (the first report that showed it)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    #: when it was confirmed (`--confirm N` reports later) and the alert raised
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    detail: Mapped[str | None] = mapped_column(String(REASON_LEN))
    #: when the alert was handed to the notifiers (webhooks delivered or dead-lettered); None = still to send
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the same for its `resolved` notification
    resolve_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SlotState(Base):
    """The collector's confirmed state of one slot of one device, and the transition it is confirming.

    `type` -1 rows track TLS connect failures on the whole sec_tag (`ok` / `tls-error`).
    """

    __tablename__ = "slot_states"

    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id"), primary_key=True)
    sec_tag: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(STATE_LEN))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the digest the confirmed state refers to (the reference for `changed` when there is no manifest)
    sha256: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    pending_state: Mapped[str | None] = mapped_column(String(STATE_LEN))
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime)


__all__ = [
    "ALERT_KINDS",
    "DIGEST_LEN",
    "IMEI_LEN",
    "LIST_STATUSES",
    "REASON_LEN",
    "REPORT_TRANSPORTS",
    "SLOT_STATES",
    "SOURCES",
    "STATE_LEN",
    "TEXT_LEN",
    "TLS_SLOT_TYPE",
    "UUID_LEN",
    "Alert",
    "ApplyAction",
    "ApplyRun",
    "Base",
    "Device",
    "Entry",
    "Report",
    "SchemaVersion",
    "SlotState",
    "Snapshot",
    "UtcDateTime",
]
