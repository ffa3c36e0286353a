"""The collector's persisted state: per-slot states (with the transition being confirmed) and alerts.

Plain rows in, plain rows out, inside the caller's write transaction; what the states mean and when an
alert fires is decided elsewhere (`credwarden.collect.health`, pure functions).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credwarden.inventory.field_db import FieldDb
from credwarden.inventory.vocabulary import REASON_LEN

Slot = tuple[int, int]

SLOT_COLUMNS = (
    "device_id",
    "sec_tag",
    "type",
    "state",
    "since",
    "sha256",
    "pending_state",
    "pending_count",
    "pending_since",
)
ALERT_COLUMNS = (
    "id",
    "device_id",
    "kind",
    "sec_tag",
    "type",
    "since",
    "fired_at",
    "resolved_at",
    "detail",
    "notified_at",
    "resolve_notified_at",
)
#: How bad each state is for a device as a whole (its worst slot decides; `silent` outranks everything).
STATE_RANK: dict[str, int] = {
    "ok": 0,
    "unverifiable": 1,
    "tls-error": 2,
    "expiring": 3,
    "unexpected": 4,
    "changed": 5,
    "expired": 6,
    "missing": 7,
    "vanished": 8,
    "silent": 9,
}


@dataclass
class SlotRow:
    """One `slot_states` row."""

    device_id: int
    sec_tag: int
    type: int
    state: str
    since: datetime
    sha256: str | None = None
    pending_state: str | None = None
    pending_count: int = 0
    pending_since: datetime | None = None

    @property
    def slot(self) -> Slot:
        return (self.sec_tag, self.type)


@dataclass
class AlertRow:
    """One `alerts` row (and the IMEI of its device, for notifications)."""

    id: int
    device_id: int
    kind: str
    sec_tag: int | None
    type: int | None
    since: datetime
    fired_at: datetime
    resolved_at: datetime | None = None
    detail: str | None = None
    notified_at: datetime | None = None
    resolve_notified_at: datetime | None = None
    imei: str = ""

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return (self.kind, self.sec_tag, self.type)


def load_slot_states(conn: Any, device_ids: Sequence[int]) -> dict[int, dict[Slot, SlotRow]]:
    """Every slot state of these devices."""
    db = FieldDb(conn)
    found: dict[int, dict[Slot, SlotRow]] = {d: {} for d in device_ids}
    for row in db.fetch_in(f"SELECT {', '.join(SLOT_COLUMNS)} FROM slot_states WHERE device_id {{inlist}}", device_ids):
        slot = SlotRow(
            int(row[0]),
            int(row[1]),
            int(row[2]),
            row[3],
            _required(db.read_time(row[4])),
            row[5],
            row[6],
            int(row[7]),
            db.read_time(row[8]),
        )
        found.setdefault(slot.device_id, {})[slot.slot] = slot
    return found


def save_slot_states(conn: Any, rows: Iterable[SlotRow]) -> None:
    """Insert or replace these slot states."""
    db = FieldDb(conn)
    values = [
        (
            r.device_id,
            r.sec_tag,
            r.type,
            r.state,
            db.time(r.since),
            r.sha256,
            r.pending_state,
            r.pending_count,
            db.time(r.pending_since),
        )
        for r in rows
    ]
    if not values:
        return
    marks = ", ".join(db.mark for _ in SLOT_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in SLOT_COLUMNS[3:])
    db.executemany(
        f"INSERT INTO slot_states ({', '.join(SLOT_COLUMNS)}) VALUES ({marks}) "
        f"ON CONFLICT (device_id, sec_tag, type) DO UPDATE SET {updates}",
        values,
    )


def _alert(db: FieldDb, row: Sequence[Any]) -> AlertRow:
    return AlertRow(
        id=int(row[0]),
        device_id=int(row[1]),
        kind=row[2],
        sec_tag=None if row[3] is None else int(row[3]),
        type=None if row[4] is None else int(row[4]),
        since=_required(db.read_time(row[5])),
        fired_at=_required(db.read_time(row[6])),
        resolved_at=db.read_time(row[7]),
        detail=row[8],
        notified_at=db.read_time(row[9]),
        resolve_notified_at=db.read_time(row[10]),
        imei=row[11] if len(row) > 11 else "",
    )


def _required(value: datetime | None) -> datetime:
    assert value is not None
    return value


_SELECT_ALERTS = (
    f"SELECT {', '.join('a.' + c for c in ALERT_COLUMNS)}, d.imei FROM alerts a JOIN devices d ON d.id = a.device_id"
)


def open_alerts(conn: Any, device_ids: Sequence[int]) -> dict[int, list[AlertRow]]:
    """The unresolved alerts of these devices."""
    db = FieldDb(conn)
    found: dict[int, list[AlertRow]] = {d: [] for d in device_ids}
    for row in db.fetch_in(f"{_SELECT_ALERTS} WHERE a.resolved_at IS NULL AND a.device_id {{inlist}}", device_ids):
        alert = _alert(db, row)
        found.setdefault(alert.device_id, []).append(alert)
    return found


def insert_alerts(conn: Any, alerts: list[AlertRow]) -> None:
    """Store new alerts; their `id` is set."""
    db = FieldDb(conn)
    for alert, alert_id in zip(alerts, db.new_ids("alerts", len(alerts)), strict=True):
        alert.id = alert_id
    db.insert(
        "alerts",
        ALERT_COLUMNS,
        [
            (
                a.id,
                a.device_id,
                a.kind,
                a.sec_tag,
                a.type,
                db.time(a.since),
                db.time(a.fired_at),
                db.time(a.resolved_at),
                None if a.detail is None else a.detail[:REASON_LEN],
                db.time(a.notified_at),
                db.time(a.resolve_notified_at),
            )
            for a in alerts
        ],
    )


def resolve_alerts(conn: Any, resolved: Iterable[tuple[int, datetime]]) -> None:
    """Set `resolved_at` of these alerts (id, when)."""
    db = FieldDb(conn)
    db.executemany(
        f"UPDATE alerts SET resolved_at = {db.mark} WHERE id = {db.mark} AND resolved_at IS NULL",
        [(db.time(when), alert_id) for alert_id, when in resolved],
    )


def mark_notified(conn: Any, alert_ids: Sequence[int], when: datetime, *, resolved: bool) -> None:
    """Record that the notifiers handled these alerts (their firing, or with `resolved` their resolution)."""
    db = FieldDb(conn)
    column = "resolve_notified_at" if resolved else "notified_at"
    db.executemany(
        f"UPDATE alerts SET {column} = {db.mark} WHERE id = {db.mark} AND {column} IS NULL",
        [(db.time(when), alert_id) for alert_id in alert_ids],
    )


def unnotified_alerts(conn: Any, limit: int = 1000) -> list[AlertRow]:
    """Alerts whose firing or resolution was never handed to the notifiers (a collector stopped in between)."""
    db = FieldDb(conn)
    rows = db.fetch(
        f"{_SELECT_ALERTS} WHERE a.notified_at IS NULL OR (a.resolved_at IS NOT NULL AND a.resolve_notified_at IS NULL "
        f"AND a.kind <> 'appeared') ORDER BY a.id LIMIT {int(limit)}"
    )
    return [_alert(db, row) for row in rows]


def silent_devices(conn: Any, cutoff: datetime, limit: int = 10_000) -> list[tuple[int, str, datetime]]:
    """(device id, IMEI, last report time) of devices whose last report is older than `cutoff` and that have no
    open `silent` alert yet."""
    db = FieldDb(conn)
    rows = db.fetch(
        "SELECT d.id, d.imei, d.last_report_at FROM devices d WHERE d.last_report_at < "
        f"{db.mark} AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = d.id AND a.kind = 'silent' "
        f"AND a.resolved_at IS NULL) ORDER BY d.last_report_at LIMIT {int(limit)}",
        (db.time(cutoff),),
    )
    return [(int(r[0]), r[1], _required(db.read_time(r[2]))) for r in rows]


def fleet_state_counts(conn: Any, silent_before: datetime) -> dict[str, int]:
    """Devices that report, by their worst state (every state present, zero included)."""
    db = FieldDb(conn)
    rank_case = " ".join(f"WHEN '{state}' THEN {rank}" for state, rank in STATE_RANK.items())
    rows = db.fetch(
        f"SELECT worst, COUNT(*) FROM (SELECT CASE WHEN d.last_report_at < {db.mark} THEN {STATE_RANK['silent']} "
        f"ELSE COALESCE(MAX(CASE s.state {rank_case} ELSE 0 END), 0) END AS worst FROM devices d "
        "LEFT JOIN slot_states s ON s.device_id = d.id WHERE d.last_report_at IS NOT NULL "
        "GROUP BY d.id, d.last_report_at) AS per_device GROUP BY worst",
        (db.time(silent_before),),
    )
    by_rank = {rank: state for state, rank in STATE_RANK.items()}
    counts = dict.fromkeys(STATE_RANK, 0)
    for rank, count in rows:
        counts[by_rank[int(rank)]] += int(count)
    return counts
