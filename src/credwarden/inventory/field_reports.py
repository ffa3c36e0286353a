"""Storing field reports: each accepted report is an observation of its device (one code path for every
transport: MQTT, HTTP, SMS, `inventory import`).

Inside the caller's write transaction, a batch of reports:

* creates / locks its devices (PostgreSQL: `FOR UPDATE` in id order, as snapshot writes do);
* refuses a replay: a `seq` not above the device's last accepted report within the same uptime (`up` not
  lower than before; without `up` on both sides, only the same `seq` is a replay); a report that looks like a
  reboot (lower `up`) is a replay when the device already sent one with the same `seq` and `up` (a message
  the broker delivered again, e.g. after a restart);
* turns a complete credential list that differs from the device's latest snapshot into a snapshot (source
  `report`); an unchanged list is a heartbeat that confirms the latest snapshot without entry rows; an
  incomplete or absent list creates nothing and is never read as a loss;
* fills in full digests of the SMS form from the latest snapshot where the 36-bit prefix matches;
* writes one `reports` row per accepted report and keeps `devices.last_report_at` / `last_report_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credwarden.inventory.field_db import FieldDb
from credwarden.inventory.recording import write_snapshots
from credwarden.inventory.records import EntryRecord, SnapshotRecord, entry_record, hostname, scrub_reason
from credwarden.inventory.vocabulary import REPORT_TRANSPORTS, TEXT_LEN
from credwarden.inventory.writers import writer_for
from credwarden.report.errors import REPLAYED, ReportRejected
from credwarden.report.model import FieldReport, Listing
from credwarden.report.sms import resolve_digests

if TYPE_CHECKING:
    from credwarden.inventory.store import Inventory

Slot = tuple[int, int]

REPORT_COLUMNS = (
    "id",
    "device_id",
    "received_at",
    "seq",
    "uptime_s",
    "app_version",
    "firmware",
    "tls_errors",
    "list_status",
    "list_error",
    "snapshot_id",
    "transport",
    "extra_fields",
)


@dataclass(frozen=True)
class KnownEntry:
    """A credential of the device's latest snapshot."""

    sha256: str | None
    not_after: datetime | None


@dataclass(frozen=True)
class IncomingReport:
    """A parsed report and how / when it arrived."""

    report: FieldReport
    transport: str
    received_at: datetime

    def __post_init__(self) -> None:
        if self.transport not in REPORT_TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(REPORT_TRANSPORTS)}, not {self.transport!r}")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")


@dataclass
class StoredReport:
    """What happened to one incoming report, and what state evaluation needs to know about it."""

    incoming: IncomingReport
    rejection: ReportRejected | None = None
    device_id: int = 0
    report_id: int = 0
    snapshot_id: int | None = None
    created_snapshot: bool = False
    #: the device's credentials before this report (its latest snapshot), by slot
    before: dict[Slot, KnownEntry] = field(default_factory=dict)
    #: the credential list this report showed (SMS digests filled in where known), None when not complete
    listing: Listing | None = None
    #: its credentials after this report (the new snapshot's, or unchanged), by slot
    after: dict[Slot, KnownEntry] = field(default_factory=dict)
    #: the device had no report before this one
    first_report: bool = False
    #: the device was not in the inventory before this batch
    new_device: bool = False

    @property
    def accepted(self) -> bool:
        return self.rejection is None

    @property
    def imei(self) -> str:
        return self.incoming.report.imei


@dataclass
class _Device:
    id: int
    latest_snapshot_id: int | None
    last_seq: int | None
    last_uptime: int | None
    entries: dict[Slot, KnownEntry]
    new: bool
    pending_snapshot: int | None = None  #: index of this batch's newest snapshot record for the device
    #: (seq, up) of the reports accepted for the device in this batch
    seen: set[tuple[int, int | None]] = field(default_factory=set)


def is_replay(seq: int, uptime: int | None, last_seq: int | None, last_uptime: int | None) -> bool:
    """A report is a replay when it is not newer than the last accepted one of the same boot."""
    if last_seq is None:
        return False
    if uptime is not None and last_uptime is not None:
        same_boot = uptime >= last_uptime
        return same_boot and seq <= last_seq
    return seq == last_seq


def _seen_before(db: FieldDb, device: _Device, report: FieldReport) -> bool:
    """Whether a report that does not continue the last one (a reboot, or no uptime) was stored already."""
    if device.last_seq is None or report.seq > device.last_seq:
        return False
    key = (report.seq, report.uptime_s)
    if key in device.seen:
        return True
    mark = db.mark
    uptime = f"uptime_s = {mark}" if report.uptime_s is not None else "uptime_s IS NULL"
    params: tuple[object, ...] = (device.id, report.seq) + ((report.uptime_s,) if report.uptime_s is not None else ())
    rows = db.fetch(f"SELECT 1 FROM reports WHERE device_id = {mark} AND seq = {mark} AND {uptime} LIMIT 1", params)
    return bool(rows)


def _known_from_listing(
    listing: Listing, before: dict[Slot, KnownEntry], report: FieldReport
) -> dict[Slot, KnownEntry]:
    """The device's credentials after a complete listing (slots a filtered list does not cover are kept)."""
    expiries = report.expiries()
    after = {slot: known for slot, known in before.items() if not listing.covers(*slot)}
    for entry in listing.entries:
        old = before.get(entry.key)
        not_after = expiries.get(entry.key)
        if not_after is None and old is not None and old.sha256 is not None and old.sha256 == entry.sha256:
            not_after = old.not_after
        after[entry.key] = KnownEntry(entry.sha256, not_after)
    return after


def _same_credentials(a: dict[Slot, KnownEntry], b: dict[Slot, KnownEntry]) -> bool:
    return a.keys() == b.keys() and all(a[k].sha256 == b[k].sha256 for k in a)


def _resolved_listing(report: FieldReport, before: dict[Slot, KnownEntry]) -> Listing | None:
    listing = report.listing
    if listing is None or report.form != "sms":
        return listing
    resolved, _verified = resolve_digests(listing, {slot: known.sha256 for slot, known in before.items()})
    return resolved


def _snapshot_record(report: IncomingReport, after: dict[Slot, KnownEntry], host: str) -> SnapshotRecord:
    entries: list[EntryRecord] = [
        entry_record(tag, code, known.sha256, known.not_after) for (tag, code), known in sorted(after.items())
    ]
    return SnapshotRecord(
        imei=report.report.imei,
        taken_at=report.received_at,
        source="report",
        entries=tuple(entries),
        firmware=_clip(report.report.firmware),
        host=host,
    )


def _clip(value: str | None, limit: int = TEXT_LEN) -> str | None:
    return None if value is None else value[:limit]


def store_reports(conn: Any, incoming: Sequence[IncomingReport]) -> list[StoredReport]:
    """Store a batch of reports in the caller's write transaction (a SQLAlchemy `Connection`); one result each,
    in order. Replays are refused (`rejection` set, nothing stored for them); everything else is stored."""
    if not incoming:
        return []
    db = FieldDb(conn)
    devices = _load_devices(db, incoming)
    host = hostname()
    results: list[StoredReport] = []
    records: list[SnapshotRecord] = []
    record_owner: list[StoredReport] = []
    heartbeat_of: dict[int, int] = {}  #: index in results -> index in records it confirms
    for item in incoming:
        report = item.report
        device = devices[report.imei]
        result = StoredReport(item, device_id=device.id, new_device=device.new, first_report=device.last_seq is None)
        results.append(result)
        if is_replay(report.seq, report.uptime_s, device.last_seq, device.last_uptime) or _seen_before(
            db, device, report
        ):
            result.rejection = ReportRejected(
                REPLAYED,
                f"device {report.imei}: seq {report.seq} is not newer than its last report's {device.last_seq} "
                f"(same uptime: {report.uptime_s} s >= {device.last_uptime} s)"
                if report.uptime_s is not None and device.last_uptime is not None
                else f"device {report.imei}: seq {report.seq} repeats its last report's",
            )
            continue
        device.last_seq, device.last_uptime = report.seq, report.uptime_s
        device.seen.add((report.seq, report.uptime_s))
        result.before = dict(device.entries)
        listing = _resolved_listing(report, device.entries)
        result.after = dict(device.entries)
        if listing is not None and listing.status == "complete":
            result.listing = listing
            after = _known_from_listing(listing, device.entries, report)
            result.after = after
            confirmable = device.latest_snapshot_id is not None or device.pending_snapshot is not None
            if confirmable and _same_credentials(after, device.entries):
                if device.pending_snapshot is not None:
                    heartbeat_of[len(results) - 1] = device.pending_snapshot
                else:
                    result.snapshot_id = device.latest_snapshot_id
            else:
                device.pending_snapshot = len(records)
                records.append(_snapshot_record(item, after, host))
                record_owner.append(result)
                result.created_snapshot = True
            device.entries = after
    snapshot_ids = write_snapshots(writer_for(conn), records) if records else []
    for result, snap_id in zip(record_owner, snapshot_ids, strict=True):
        result.snapshot_id = snap_id
    for index, record_index in heartbeat_of.items():
        results[index].snapshot_id = snapshot_ids[record_index]
    _insert_reports(db, [r for r in results if r.accepted])
    return results


def _load_devices(db: FieldDb, incoming: Sequence[IncomingReport]) -> dict[str, _Device]:
    """Create missing devices, lock them (PostgreSQL), and read their last report and latest credentials."""
    first: dict[str, datetime] = {}
    for item in incoming:
        imei = item.report.imei
        first[imei] = min(first.get(imei, item.received_at), item.received_at)
    imeis = sorted(first)
    existing = {row[0] for row in db.fetch_in("SELECT imei FROM devices WHERE imei {inlist}", imeis)}
    new = [imei for imei in imeis if imei not in existing]
    if db.postgres:
        db.execute(
            "INSERT INTO devices (imei, first_seen, last_seen) SELECT i, t, t FROM unnest(%s::text[], "
            "%s::timestamptz[]) AS v(i, t) ORDER BY i ON CONFLICT (imei) DO NOTHING",
            (new, [first[i] for i in new]),
        )
        db.execute("SELECT id FROM devices WHERE imei = ANY(%s) ORDER BY id FOR UPDATE", (imeis,))
    else:
        db.executemany(
            "INSERT INTO devices (imei, first_seen, last_seen) VALUES (?, ?, ?) ON CONFLICT (imei) DO NOTHING",
            [(i, db.time(first[i]), db.time(first[i])) for i in new],
        )
    rows = db.fetch_in(
        "SELECT d.imei, d.id, d.latest_snapshot_id, r.seq, r.uptime_s FROM devices d "
        "LEFT JOIN reports r ON r.id = d.last_report_id WHERE d.imei {inlist}",
        imeis,
    )
    devices = {imei: _Device(int(dev_id), latest, seq, up, {}, imei in new) for imei, dev_id, latest, seq, up in rows}
    by_snapshot = {d.latest_snapshot_id: d for d in devices.values() if d.latest_snapshot_id is not None}
    for snap_id, tag, code, sha, not_after in db.fetch_in(
        "SELECT snapshot_id, sec_tag, type, sha256, not_after FROM entries WHERE snapshot_id {inlist}",
        list(by_snapshot),
    ):
        by_snapshot[snap_id].entries[(int(tag), int(code))] = KnownEntry(sha, db.read_time(not_after))
    return devices


def _insert_reports(db: FieldDb, stored: list[StoredReport]) -> None:
    if not stored:
        return
    ids = db.new_ids("reports", len(stored))
    rows: list[tuple[Any, ...]] = []
    last: dict[int, tuple[datetime, int, str | None]] = {}
    for report_id, result in zip(ids, stored, strict=True):
        result.report_id = report_id
        report = result.incoming.report
        rows.append(
            (
                report_id,
                result.device_id,
                db.time(result.incoming.received_at),
                report.seq,
                report.uptime_s,
                _clip(report.app_version),
                _clip(report.firmware),
                _clip(report.tls_text),
                report.list_status,
                _clip(report.listing.error if report.listing else None, 64),
                result.snapshot_id,
                result.incoming.transport,
                _clip(scrub_reason(report.extra_text)),
            )
        )
        last[result.device_id] = (result.incoming.received_at, report_id, _clip(report.firmware))
    db.insert("reports", REPORT_COLUMNS, rows)
    _update_devices(db, last)


def _update_devices(db: FieldDb, last: dict[int, tuple[datetime, int, str | None]]) -> None:
    """Keep each device's newest report, its last-seen time and (when the report said) its firmware."""
    ids = sorted(last)
    if db.postgres:
        db.execute(
            "UPDATE devices AS d SET last_report_at = v.t, last_report_id = v.r, "
            "last_seen = GREATEST(d.last_seen, v.t), firmware = COALESCE(v.f, d.firmware) "
            "FROM unnest(%s::int[], %s::timestamptz[], %s::int[], %s::text[]) AS v(id, t, r, f) WHERE d.id = v.id",
            (ids, [last[i][0] for i in ids], [last[i][1] for i in ids], [last[i][2] for i in ids]),
        )
        return
    db.executemany(
        "UPDATE devices SET last_report_at = ?, last_report_id = ?, last_seen = MAX(last_seen, ?), "
        "firmware = COALESCE(?, firmware) WHERE id = ?",
        [(db.time(last[i][0]), last[i][1], db.time(last[i][0]), last[i][2], i) for i in ids],
    )


def record_reports(
    inventory: Inventory,
    reports: Sequence[FieldReport],
    *,
    transport: str = "import",
    received_at: datetime | None = None,
) -> list[StoredReport]:
    """Store reports read from a file (`inventory import`) in one transaction; replays come back refused."""
    when = received_at or datetime.now(UTC)
    items = [
        IncomingReport(r, "sms" if r.form == "sms" and transport != "import" else transport, when) for r in reports
    ]
    with inventory.write() as conn:
        return store_reports(conn, items)
