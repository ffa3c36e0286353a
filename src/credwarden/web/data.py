"""`Dashboard`: builds the overview and device views from the inventory (read-only), using `credwarden.web.sql`.

Fleet-wide numbers come from the database in one pass (`sql.fleet_rows`); Python only sums its few grouped rows
and classifies the slots of the devices on the requested queue page (at most `page_size` devices).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

from sqlalchemy import Connection, Engine

from credwarden.inventory.drift import ExpectedSlot
from credwarden.web import sql
from credwarden.web.health import GROUP_LABELS, GROUPS, KIND_GROUP, HealthSettings, repair_command, severity_rank
from credwarden.web.history import HistoryCache
from credwarden.web.views import (
    Breakdown,
    DeviceDetail,
    FleetOverview,
    GroupCount,
    QueueItem,
    SlotChange,
    SlotStatus,
    TimelineEvent,
    WeekCount,
)

Slot = tuple[int, int]
#: Weeks of the expiry histogram (12 months).
EXPIRY_WEEKS = 53
#: Slot states that are problems, in the order a device page lists them.
PROBLEM_STATES = ("vanished", "missing", "expired", "changed", "unexpected", "expiring", "unverifiable")


@dataclass(frozen=True)
class EntryRow:
    sec_tag: int
    type: int
    sha256: str | None
    placeholder: bool
    not_after: datetime | None


def classify_slots(
    entries: Sequence[EntryRow],
    lost: Sequence[tuple[int, int, str | None]],
    expected: Sequence[ExpectedSlot],
    now: datetime,
    settings: HealthSettings,
) -> list[tuple[int, int, str, str | None, tuple[str, ...], bool, datetime | None]]:
    """Each slot's state now: (sec_tag, type, state, sha256, expected digests, in manifest, not_after).

    The same rules as the fleet pass: manifest presence / digest (placeholder digests prove nothing), lost against
    the previous snapshot, certificate expiry, and credentials on a sec_tag the manifest manages that it does not
    name (unexpected; other sec_tags are not the manifest's business).
    """
    horizon = now + timedelta(days=settings.expiring_days)
    managed = set(sql.managed_tags(expected))
    by_slot = {(e.sec_tag, e.type): e for e in entries}
    rows: list[tuple[int, int, str, str | None, tuple[str, ...], bool, datetime | None]] = []
    claimed: set[Slot] = set()
    for item in expected:
        present = [s for s in item.slots if s in by_slot]
        claimed.update(item.slots)
        digests = tuple(sorted(item.digests or ()))
        if not present:
            state = "vanished" if any((t, c) == s for t, c, _ in lost for s in item.slots) else "missing"
            rows.append((item.sec_tag, item.type, state, None, digests, True, None))
            continue
        entry = by_slot[present[0]]
        rows.append(
            (
                entry.sec_tag,
                entry.type,
                _entry_state(entry, item.digests, now, horizon),
                entry.sha256,
                digests,
                True,
                entry.not_after,
            )
        )
    for entry in entries:
        if (entry.sec_tag, entry.type) in claimed:
            continue
        state = "unexpected" if entry.sec_tag in managed else _entry_state(entry, None, now, horizon)
        if state == "unverifiable" and expected:
            state = "ok"  # outside the manifest nothing is checked by digest
        rows.append((entry.sec_tag, entry.type, state, entry.sha256, (), False, entry.not_after))
    for tag, code, sha in lost:
        if (tag, code) not in claimed:
            rows.append((tag, code, "vanished", sha, (), False, None))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def _entry_state(entry: EntryRow, digests: frozenset[str] | None, now: datetime, horizon: datetime) -> str:
    if entry.not_after is not None and entry.not_after <= now:
        return "expired"
    unproven = entry.placeholder or entry.sha256 is None
    if digests and not unproven and entry.sha256 not in digests:
        return "changed"
    if entry.not_after is not None and entry.not_after <= horizon:
        return "expiring"
    if unproven and (digests or digests is None):
        return "unverifiable"
    return "ok"


def explain_tls(errors: str | None) -> tuple[str | None, str | None]:
    """(the first `sec_tag:error` of a report's TLS errors, what `credwarden explain` says about the error)."""
    if not errors:
        return None, None
    from credwarden.field.explain import ExplainInputError, explain

    first = errors.split(",")[0].strip()
    code = first.partition(":")[2].strip() or first
    try:
        found = explain(code)
    except ExplainInputError:
        return first, None
    if not found.interpretations:
        return first, None
    best = next((i for i in found.interpretations if i.credential_related), found.interpretations[0])
    text = f"{best.name} ({best.scheme_label}): {best.credential_cause or best.meaning}"
    if len(found.interpretations) > 1:
        text += f" [{len(found.interpretations)} readings: credwarden explain {code}]"
    return first, text


def _streak_start(observations: Sequence[tuple[datetime, dict[Slot, str | None]]], slot: Slot) -> datetime | None:
    """Since when the slot has held what it holds in the newest observation (same digest, or absent)."""
    if not observations:
        return None
    current = observations[-1][1].get(slot, "<absent>")
    since = observations[-1][0]
    for taken_at, slots in reversed(observations):
        if slots.get(slot, "<absent>") != current:
            break
        since = taken_at
    return since


class Dashboard:
    """The dashboard's data: one instance per server, thread-safe (every call uses its own read transaction)."""

    def __init__(
        self,
        engine: Engine,
        *,
        expected: Sequence[ExpectedSlot] = (),
        manifest: str | None = None,
        settings: HealthSettings | None = None,
        has_reports: bool = False,
        page_size: int = 25,
        history_days: int = 90,
        clock: Callable[[], datetime] | None = None,
        workers: int | None = None,
    ) -> None:
        """`workers`: connections the fleet pass is split over (default: 2 when the machine has 2 cores or more)."""
        self.engine = engine
        self.expected = tuple(expected)
        self.manifest = manifest
        self.settings = settings or HealthSettings()
        self.has_reports = has_reports
        self.page_size = page_size
        self.history_days = history_days
        self.clock = clock or (lambda: datetime.now(UTC))
        self.workers = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="credwarden-fleet")
        self._station_lock = threading.Lock()
        self._station_cache: tuple[tuple[int, int], dict[str | None, int]] | None = None
        self.history = HistoryCache(
            engine,
            self.expected,
            days=history_days,
            expiring_days=self.settings.expiring_days,
            clock=self.clock,
            silent_after=self.settings.silent_after if has_reports else None,
        )

    def close(self) -> None:
        """Stop the worker threads and close the database connections."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()

    # -- overview ------------------------------------------------------------------------------------------------

    def overview(self, page: int = 1) -> FleetOverview:
        """The overview; `page` (1-based) selects the page of the needs-action queue."""
        started = time.perf_counter()
        now = self.clock()
        query = sql.FleetQuery(
            expected=self.expected,
            now=now,
            expiring_days=self.settings.expiring_days,
            silent_after=self.settings.silent_after,
            page_size=self.page_size,
            page=max(page, 1) - 1,
            has_reports=self.has_reports,
            expiry_until=datetime.combine(now.date() + timedelta(weeks=EXPIRY_WEEKS), time_of_day(0), tzinfo=UTC),
        )
        if self.workers > 1:
            rows, page_rows = self._fleet_rows_parallel(query)
        else:
            with self.engine.connect() as conn, conn.begin():
                rows = sql.fleet_rows(conn, query)
            page_rows = [r for r in rows if r[0] == "page"]
        with self.engine.connect() as conn, conn.begin():
            queue = self._queue_items(conn, page_rows, now)
            station_totals = self._station_totals(conn)
        counts: dict[str, int] = defaultdict(int)
        firmware: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        station: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        today = now.date()
        weeks: dict[int, int] = defaultdict(int)
        expired = 0
        for section, fw, st, grp, n, gone, day, _at in rows:
            if section == "count":
                counts[grp] += int(n)
                firmware[fw][grp] += int(n)
                if day is not None and gone:
                    expired += int(n)
                elif day is not None:
                    weeks[(date.fromisoformat(day) - today).days // 7] += int(n)
            elif section == "station":
                station[st][grp] += int(n)
        for st, n in station_totals.items():
            station[st]["ok"] = max(0, n - sum(station[st].values()))
        total = sum(counts.values())
        queue_total = total - counts.get("ok", 0)
        status, history = self.history.get()
        groups = []
        for group in GROUPS:
            count = counts.get(group, 0)
            if history is not None:
                past = history.counts[group]
                groups.append(GroupCount(group, GROUP_LABELS[group], count, count - past[-1], (*past, count)))
            else:
                groups.append(GroupCount(group, GROUP_LABELS[group], count, None, ()))
        return FleetOverview(
            generated_at=now,
            manifest=self.manifest,
            total=total,
            groups=tuple(groups),
            history_days=self.history_days,
            history_status=status,
            queue_total=queue_total,
            page=query.page,
            pages=max(1, math.ceil(queue_total / self.page_size)),
            queue=tuple(queue),
            expired_devices=expired,
            expiry_weeks=tuple(WeekCount(w, today + timedelta(weeks=w), weeks.get(w, 0)) for w in range(EXPIRY_WEEKS)),
            by_firmware=_breakdowns(firmware),
            by_station=_breakdowns(station),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _fleet_rows_parallel(self, query: sql.FleetQuery) -> tuple[list[Any], list[Any]]:
        """The fleet pass split by device id over `workers` connections at once; the queue page merged."""

        def shard(k: int) -> list[Any]:
            with self.engine.connect() as conn, conn.begin():
                return sql.fleet_rows(conn, replace(query, shard=k, shards=self.workers))

        rows = [row for part in self._pool.map(shard, range(self.workers)) for row in part]
        candidates = [r for r in rows if r[0] == "page"]
        candidates.sort(key=lambda r: (severity_rank(r[3]), -_epoch(r[7]), r[6]))
        start = query.page * query.page_size
        return rows, candidates[start : start + query.page_size]

    def _station_totals(self, conn: Connection) -> dict[str | None, int]:
        """Devices per station; recomputed only when the set of devices changed (stations never change)."""
        key = sql.device_count(conn)
        with self._station_lock:
            if self._station_cache is not None and self._station_cache[0] == key:
                return self._station_cache[1]
        totals = dict(sql.station_totals(conn))
        with self._station_lock:
            self._station_cache = (key, totals)
        return totals

    def _queue_items(self, conn: Connection, page_rows: Sequence[Any], now: datetime) -> list[QueueItem]:
        """The problems of the page's devices, in the page's order (devices) and by severity (slots)."""
        ids = [int(r[5]) for r in page_rows]
        details = self._slot_details(conn, ids, now)
        tls = self._tls(conn, ids)
        items: list[QueueItem] = []
        for _, fw, st, grp, _n, device_id, imei, seen_at in page_rows:
            problems = details.get(int(device_id), [])
            tls_error, tls_explain = tls.get(int(device_id), (None, None))
            for kind, tag, code, since in problems:
                items.append(
                    QueueItem(
                        imei=imei,
                        group=grp,
                        kind=kind,
                        sec_tag=tag,
                        type=code,
                        since=since,
                        seen_at=sql.to_utc(seen_at),
                        firmware=fw,
                        station=st,
                        tls_error=tls_error,
                        tls_explain=tls_explain,
                        repair=repair_command(kind, imei, self.manifest),
                    )
                )
        return items

    def _tls(self, conn: Connection, device_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
        """The newest reported TLS error of each device, with its explanation (field reports only)."""
        if not self.has_reports:
            return {}
        return {int(dev): explain_tls(errors) for dev, _at, errors in sql.last_tls_errors(conn, device_ids)}

    def _slot_details(
        self, conn: Connection, device_ids: Sequence[int], now: datetime
    ) -> dict[int, list[tuple[str, int | None, int | None, datetime | None]]]:
        """Per device: (kind, sec_tag, type, since) of each problem, most severe first."""
        if not device_ids:
            return {}
        entries: dict[int, list[EntryRow]] = defaultdict(list)
        for dev, tag, code, sha, placeholder, not_after in sql.latest_entries(conn, device_ids):
            entries[dev].append(EntryRow(int(tag), int(code), sha, bool(placeholder), sql.to_utc(not_after)))
        lost: dict[int, list[tuple[int, int, str | None]]] = defaultdict(list)
        for dev, tag, code, sha, _since in sql.lost_entries(conn, device_ids):
            lost[dev].append((int(tag), int(code), sha))
        observations: dict[int, list[tuple[datetime, dict[Slot, str | None]]]] = defaultdict(list)
        for dev, taken_at, tag, code, sha in sql.slot_history(conn, device_ids):
            at = sql.to_utc(taken_at)
            assert at is not None
            seq = observations[dev]
            if not seq or seq[-1][0] != at:
                seq.append((at, {}))
            if tag is not None:
                seq[-1][1][(int(tag), int(code))] = sha
        alerts: dict[int, dict[tuple[str, int | None, int | None], datetime | None]] = defaultdict(dict)
        last_report: dict[int, datetime | None] = {}
        if self.has_reports:
            for dev, kind, tag, code, since, _detail in sql.open_alerts(conn, device_ids):
                key = (str(kind), None if tag is None else int(tag), None if code is None else int(code))
                alerts[int(dev)].setdefault(key, sql.to_utc(since))
            for dev, received_at, _errors in sql.last_reports(conn, device_ids):
                last_report[int(dev)] = sql.to_utc(received_at)
        result: dict[int, list[tuple[str, int | None, int | None, datetime | None]]] = {}
        for dev in device_ids:
            dev_alerts = alerts.get(dev, {})
            present = {(e.sec_tag, e.type) for e in entries.get(dev, [])}
            vanished_alerts = [
                (t, c, None)
                for kind, t, c in dev_alerts
                if kind == "vanished" and t is not None and c is not None and (t, c) not in present
            ]
            slots = classify_slots(
                entries.get(dev, []),
                [
                    *lost.get(dev, []),
                    *((t, c, sha) for t, c, sha in vanished_alerts if t is not None and c is not None),
                ],
                self.expected,
                now,
                self.settings,
            )
            problems: list[tuple[str, int | None, int | None, datetime | None]] = []
            for tag, code, state, _sha, _exp, _in, not_after in slots:
                if state == "ok":
                    continue
                if state == "expired":
                    since = not_after
                elif state == "expiring" and not_after is not None:
                    since = not_after - timedelta(days=self.settings.expiring_days)
                else:
                    since = dev_alerts.get((state, tag, code)) or _streak_start(observations.get(dev, []), (tag, code))
                problems.append((state, tag, code, since))
            for (
                kind,
                tag,
                code,
            ) in dev_alerts:  # the collector's changed / unexpected the latest snapshot no longer shows
                if kind in ("changed", "unexpected") and not any(p[1:3] == (tag, code) for p in problems):
                    problems.append((kind, tag, code, dev_alerts[(kind, tag, code)]))
            reported = last_report.get(dev)
            silent_after = self.settings.silent_after
            if reported is not None and silent_after is not None and reported < now - silent_after:
                problems.append(("silent", None, None, reported))
            problems.sort(key=lambda p: (severity_rank(KIND_GROUP[p[0]]), p[1] or 0, p[2] or 0))
            result[dev] = problems
        return result

    # -- one device ----------------------------------------------------------------------------------------------

    def device(self, imei: str) -> DeviceDetail | None:
        """The device page's data, or None for an IMEI the inventory does not know."""
        now = self.clock()
        with self.engine.connect() as conn, conn.begin():
            row = sql.device_row(conn, imei, self.has_reports)
            if row is None:
                return None
            device_id = int(row[0])
            snapshots = sql.device_snapshots(conn, device_id)
            entry_rows = sql.device_entries(conn, device_id)
            runs = sql.device_apply_runs(conn, device_id)
            actions = sql.apply_actions(conn, [int(r[0]) for r in runs])
            details = self._slot_details(conn, [device_id], now)
            lost = [(int(t), int(c), s) for _d, t, c, s, _ in sql.lost_entries(conn, [device_id])]
            tls_error, tls_explain = self._tls(conn, [device_id]).get(device_id, (None, None))
            reports = sql.device_reports(conn, device_id) if self.has_reports else []
        by_snapshot: dict[int, list[EntryRow]] = defaultdict(list)
        for snap_id, tag, code, sha, placeholder, not_after in entry_rows:
            by_snapshot[int(snap_id)].append(
                EntryRow(int(tag), int(code), sha, bool(placeholder), sql.to_utc(not_after))
            )
        latest_id = row[7]
        latest = by_snapshot.get(int(latest_id), []) if latest_id is not None else []
        since_by_slot = {(p[1], p[2]): p[3] for p in details.get(device_id, [])}
        slots = tuple(
            SlotStatus(tag, code, state, sha, exp, in_manifest, not_after, since_by_slot.get((tag, code)))
            for tag, code, state, sha, exp, in_manifest, not_after in classify_slots(
                latest, lost, self.expected, now, self.settings
            )
        )
        problems = tuple(
            QueueItem(
                imei=row[1],
                group=KIND_GROUP[kind],
                kind=kind,
                sec_tag=tag,
                type=code,
                since=since,
                seen_at=sql.to_utc(row[6]),
                firmware=row[4],
                station=None,
                tls_error=tls_error,
                tls_explain=tls_explain,
                repair=repair_command(kind, row[1], self.manifest),
            )
            for kind, tag, code, since in details.get(device_id, [])
        )
        group = min((p.group for p in problems), key=severity_rank, default="ok")
        timeline = _timeline(snapshots, by_snapshot, runs, actions, reports)
        return DeviceDetail(
            imei=row[1],
            uuid=row[2],
            model=row[3],
            firmware=row[4],
            first_seen=sql.to_utc(row[5]) or now,
            last_seen=sql.to_utc(row[6]) or now,
            last_report_at=sql.to_utc(row[11]),
            group=group,
            manifest=self.manifest,
            slots=slots,
            problems=problems,
            timeline=tuple(timeline),
        )


_SOURCE_KIND = {"apply": "apply", "live": "list", "import": "import", "report": "report"}


def _timeline(
    snapshots: Sequence[Any],
    entries: dict[int, list[EntryRow]],
    runs: Sequence[Any],
    actions: Sequence[Any],
    reports: Sequence[Any] = (),
) -> list[TimelineEvent]:
    """Every observation of the device, newest first: snapshots with their slot changes, apply runs, and field
    reports (a report that created a snapshot carries that snapshot's changes; uptime going down is a reboot)."""
    events: list[TimelineEvent] = []
    before: dict[Slot, str | None] | None = None
    firmware: str | None = None
    for snap_id, taken_at, source, station, host, fw in snapshots:
        now_slots = {(e.sec_tag, e.type): e.sha256 for e in entries.get(int(snap_id), [])}
        changes: list[SlotChange] = []
        if before is not None:
            for slot in sorted(before.keys() | now_slots.keys()):
                if slot not in now_slots:
                    changes.append(SlotChange(slot[0], slot[1], "vanished", before[slot], None))
                elif slot not in before:
                    changes.append(SlotChange(slot[0], slot[1], "appeared", None, now_slots[slot]))
                elif before[slot] != now_slots[slot]:
                    changes.append(SlotChange(slot[0], slot[1], "changed", before[slot], now_slots[slot]))
        else:
            changes = [SlotChange(t, c, "appeared", None, sha) for (t, c), sha in sorted(now_slots.items())]
        at = sql.to_utc(taken_at)
        assert at is not None
        events.append(
            TimelineEvent(
                at=at,
                kind=_SOURCE_KIND.get(source, source),
                source=source,
                station=station,
                firmware=fw,
                firmware_before=firmware if fw and firmware and fw != firmware else None,
                reboot=False,
                entries=len(now_slots),
                changes=tuple(changes),
                detail={"snapshot_id": int(snap_id), "host": host},
            )
        )
        before = now_slots
        firmware = fw or firmware
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run_id, tag, code, action, status, reason in actions:
        by_run[int(run_id)].append(
            {"sec_tag": int(tag), "type": int(code), "action": action, "status": status, "reason": reason}
        )
    for run_id, station, host, started_at, finished_at, ok in runs:
        at = sql.to_utc(started_at)
        assert at is not None
        events.append(
            TimelineEvent(
                at=at,
                kind="apply-run",
                source="apply_run",
                station=station,
                firmware=None,
                firmware_before=None,
                reboot=False,
                entries=None,
                detail={
                    "run_id": int(run_id),
                    "host": host,
                    "ok": bool(ok),
                    "finished_at": _iso(sql.to_utc(finished_at)),
                    "actions": by_run.get(int(run_id), []),
                },
            )
        )
    events = _merge_reports(events, reports)
    events.sort(key=lambda e: e.at, reverse=True)
    return events


def _merge_reports(events: list[TimelineEvent], reports: Sequence[Any]) -> list[TimelineEvent]:
    """Report events (reboots, firmware changes, TLS errors), absorbing the snapshots the reports created."""
    if not reports:
        return events
    by_snapshot = {e.detail.get("snapshot_id"): e for e in events if e.source == "report"}
    absorbed: set[int] = set()
    out: list[TimelineEvent] = []
    uptime: int | None = None
    firmware: str | None = None
    for rid, received_at, seq, up, app, fw, tls, status, list_error, snap_id, transport in reports:
        at = sql.to_utc(received_at)
        assert at is not None
        snapshot = by_snapshot.get(snap_id) if snap_id is not None else None
        created = snapshot is not None and snapshot.detail.get("snapshot_id") not in absorbed
        if created and snapshot is not None:
            absorbed.add(int(snap_id))
        reboot = up is not None and uptime is not None and int(up) < uptime
        out.append(
            TimelineEvent(
                at=at,
                kind="report",
                source="report",
                station=None,
                firmware=fw,
                firmware_before=firmware if fw and firmware and fw != firmware else None,
                reboot=reboot,
                entries=snapshot.entries if created and snapshot is not None else None,
                changes=snapshot.changes if created and snapshot is not None else (),
                detail={
                    "report_id": int(rid),
                    "seq": None if seq is None else int(seq),
                    "uptime_s": None if up is None else int(up),
                    "app_version": app,
                    "tls_errors": tls,
                    "list_status": status,
                    "list_error": list_error,
                    "snapshot_id": None if snap_id is None else int(snap_id),
                    "new_snapshot": created,
                    "transport": transport,
                },
            )
        )
        uptime = None if up is None else int(up)
        firmware = fw or firmware
    kept = [e for e in events if not (e.source == "report" and e.detail.get("snapshot_id") in absorbed)]
    return kept + out


def _epoch(value: Any) -> float:
    """A queue row's last-seen time as a sort key (None last)."""
    when = sql.to_utc(value)
    return when.timestamp() if when is not None else float("-inf")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _breakdowns(table: dict[str | None, dict[str, int]]) -> tuple[Breakdown, ...]:
    """Rows sorted by drifted devices (most first), then by name."""
    rows = [Breakdown(key or None, sum(g.values()), dict(g)) for key, g in table.items()]
    return tuple(sorted(rows, key=lambda b: (-b.drift, -b.problems, b.key or "")))
