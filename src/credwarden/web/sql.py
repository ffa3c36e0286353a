"""Every SQL statement of the dashboard (one module, so adapting to a schema change happens in one place).

The fleet-wide figures are computed by the database in one statement each:

* `fleet_rows`: one pass over every device and the entries of its latest snapshot (a materialised CTE) that
  yields the counts per health group and per firmware, the devices needing action per station, and one page of
  the needs-action queue (per-station totals: `station_totals`, recomputed only when devices are added);
* `daily_deltas`: the history behind the sparklines: each snapshot's health (window functions over each
  device's snapshots) turned into +1/-1 events per day and group, summed per day by the database.

Per-device queries (`device_row`, `device_snapshots`, ...) read one device's rows by index.
Statements run inside a read-only transaction opened by `credwarden.web.data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from credwarden.inventory.drift import ExpectedSlot

#: group names, in the order of `health.SEVERITY` (kept literal here: SQL CASE branches use them)
_MISSING, _EXPIRED, _DRIFT, _EXPIRING, _SILENT, _UNVERIFIABLE, _OK = (
    "missing",
    "expired",
    "drift",
    "expiring",
    "silent",
    "unverifiable",
    "ok",
)


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def db_time(conn: Connection, value: datetime) -> Any:
    """A UTC datetime as a bound parameter (SQLite stores naive UTC text in SQLAlchemy's format)."""
    if _pg(conn):
        return value
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def to_utc(value: Any) -> datetime | None:
    """A timestamp read back from raw SQL (SQLite returns text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Params:
    """Named bind parameters collected while a statement is built."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def managed_tags(expected: Sequence[ExpectedSlot]) -> list[int]:
    """The sec_tags a manifest manages: another credential type on one of them is `unexpected`."""
    return sorted({tag for item in expected for tag, _ in item.slots})


def _marks(params: _Params, values: Sequence[Any]) -> str:
    return ", ".join(params.add(v) for v in values)


def _slot_key(alias: str = "e") -> str:
    """One integer per (sec_tag, type): cheap to compare and to look up in an IN list."""
    return f"({alias}.sec_tag * 256 + {alias}.type)"


@dataclass(frozen=True)
class _Aggregate:
    """Aggregate columns over one snapshot's entries `e`, and expressions over them for the per-kind counts."""

    columns: str
    missing_n: str
    changed_n: str
    unverifiable_n: str


def _aggregate(expected: Sequence[ExpectedSlot], params: _Params) -> _Aggregate:
    """Aggregates over one snapshot's entries `e`: n, present / bad / unproven expected slots, unexpected_n, slot
    fingerprints. Each entry costs one integer key and IN-list / simple-CASE lookups (no per-slot OR chains)."""
    key = _slot_key()
    cols = ["COUNT(e.snapshot_id) AS n"]
    if expected:
        keys = {t * 256 + c: i for i, item in enumerate(expected) for t, c in item.slots}
        all_keys = ", ".join(params.add(k) for k in sorted(keys))
        multi = any(len(item.slots) > 1 for item in expected)
        if multi:  # native TLS: two slots count as one credential
            index = " ".join(f"WHEN {params.add(k)} THEN {i}" for k, i in sorted(keys.items()))
            cols.append(f"COUNT(DISTINCT CASE {key} {index} END) AS present_n")
        else:
            cols.append(f"SUM(CASE WHEN {key} IN ({all_keys}) THEN 1 ELSE 0 END) AS present_n")
        checked = [(k, expected[i].digests) for k, i in sorted(keys.items()) if expected[i].digests]
        if checked:
            checked_keys = ", ".join(params.add(k) for k, _ in checked)
            branches = " ".join(
                f"WHEN {params.add(k)} THEN CASE WHEN e.sha256 IN ({_marks(params, sorted(ds or ()))}) "
                "THEN 0 ELSE 1 END"
                for k, ds in checked
            )
            cols.append(
                f"SUM(CASE WHEN e.placeholder OR e.sha256 IS NULL THEN 0 ELSE CASE {key} {branches} ELSE 0 END END) "
                "AS changed_n"
            )
            cols.append(
                f"SUM(CASE WHEN (e.placeholder OR e.sha256 IS NULL) AND {key} IN ({checked_keys}) THEN 1 ELSE 0 END) "
                "AS unproven_n"
            )
        else:
            cols += ["0 AS changed_n", "0 AS unproven_n"]
        managed = _marks(params, managed_tags(expected))
        cols.append(
            f"SUM(CASE WHEN e.sec_tag IN ({managed}) AND {key} NOT IN ({all_keys}) THEN 1 ELSE 0 END) AS unexpected_n"
        )
    else:
        cols += ["0 AS present_n", "0 AS changed_n", "0 AS unexpected_n"]
        cols.append("SUM(CASE WHEN e.placeholder THEN 1 ELSE 0 END) AS unproven_n")
    # slot fingerprints (two independent sums): tell whether the set of slots changed between two snapshots
    cols.append(f"SUM({key} % 1000003 + 1) AS fp1")
    cols.append(f"SUM(({key} % 65521) * 40503 % 999983 + 1) AS fp2")
    return _Aggregate(
        columns=", ".join(cols),
        missing_n=f"({len(expected)} - COALESCE(present_n, 0))",
        changed_n="changed_n",
        unverifiable_n="unproven_n",
    )


#: Weights of the four counts packed into one aggregate per device (each count < 65536: a store lists far fewer).
_PACK = (1, 1 << 16, 1 << 32, 1 << 48)


def _unpack(column: str, index: int) -> str:
    """SQL for count `index` of a packed aggregate (integer division on SQLite and PostgreSQL)."""
    return f"((COALESCE({column}, 0) / {_PACK[index]}) % 65536)"


def _state_case(
    vanished: str,
    missing: str,
    changed: str,
    unexpected: str,
    unverifiable: str,
    soonest: str,
    silent: str,
    now: str,
    horizon: str,
) -> str:
    """SQL CASE: the device's group, most severe problem first (health.SEVERITY)."""
    return (
        f"CASE WHEN {vanished} > 0 OR {missing} > 0 THEN '{_MISSING}' "
        f"WHEN {soonest} IS NOT NULL AND {soonest} <= {now} THEN '{_EXPIRED}' "
        f"WHEN {changed} > 0 OR {unexpected} > 0 THEN '{_DRIFT}' "
        f"WHEN {soonest} IS NOT NULL AND {soonest} <= {horizon} THEN '{_EXPIRING}' "
        f"WHEN {silent} THEN '{_SILENT}' "
        f"WHEN {unverifiable} > 0 THEN '{_UNVERIFIABLE}' "
        f"ELSE '{_OK}' END"
    )


@dataclass(frozen=True)
class FleetQuery:
    """What `fleet_rows` computes."""

    expected: Sequence[ExpectedSlot]
    now: datetime
    expiring_days: int
    silent_after: timedelta | None
    page_size: int
    page: int  #: 0-based page of the needs-action queue
    has_reports: bool  #: the schema has field reports (devices.last_report_at)
    expiry_until: datetime  #: the expiry histogram's end
    #: this statement covers the devices with id % shards == shard (the caller runs the shards in parallel and
    #: merges: counts add up; each shard returns the first page_size * (page + 1) queue rows, unsorted overall)
    shard: int = 0
    shards: int = 1


def fleet_rows(conn: Connection, q: FleetQuery) -> list[Any]:
    """Rows `(section, firmware, station, grp, n, num, txt, at)` from one pass over the fleet.

    * `count`: n devices per (firmware, group, expiry day, expired): every total of the overview, the firmware
      breakdown and the expiry histogram are sums of these few rows. txt = the UTC day (`YYYY-MM-DD`) of the
      device's first certificate expiry when before `expiry_until` (else None), num = 1 when it has passed;
    * `station`: n devices needing action per (station, group);
    * `page`: the requested page of the needs-action queue (most severe group first, most recently seen first):
      num = device id, txt = IMEI, at = last seen.

    Per device, one aggregate over the entries of its latest snapshot (one index range; the row itself is read
    only for digest-checked slots) packs four counts into one integer (`_PACK`): expected slots present, other
    slots on a sec_tag the manifest manages (unexpected), digest-checked slots whose digest differs (changed),
    slots whose digest proves nothing (unverifiable). Vanished and expiry come from the device row (`lost_entries`,
    `soonest_expiry`).
    """
    params = _Params()
    key = _slot_key()
    now = params.add(db_time(conn, q.now))
    horizon = params.add(db_time(conn, q.now + timedelta(days=q.expiring_days)))
    joins: list[str] = []
    latest = "FROM entries e WHERE e.snapshot_id = d.latest_snapshot_id"
    unproven_entry = "(e.placeholder OR e.sha256 IS NULL)"
    present_col = ""
    if q.expected:
        checked = {t * 256 + c: item.digests for item in q.expected if item.digests for t, c in item.slots[:1]}
        plain = sorted({t * 256 + c for item in q.expected for t, c in item.slots} - checked.keys())
        # a simple CASE on the slot key: the key is computed once per entry
        branches = [f"WHEN {params.add(k)} THEN {_PACK[0]}" for k in plain]
        for k, digests in sorted(checked.items()):
            branches.append(
                f"WHEN {params.add(k)} THEN {_PACK[0]} + CASE WHEN {unproven_entry} THEN {_PACK[3]} "
                f"WHEN e.sha256 IN ({_marks(params, sorted(digests or ()))}) THEN 0 ELSE {_PACK[2]} END"
            )
        managed = _marks(params, managed_tags(q.expected))
        packed = (
            f"CASE {key} {' '.join(branches)} ELSE CASE WHEN e.sec_tag IN ({managed}) THEN {_PACK[1]} ELSE 0 END END"
        )
        missing_n = f"({len(q.expected)} - {_unpack('a.v', 0)})"
        if any(len(item.slots) > 1 for item in q.expected):  # native TLS: either of two slots counts as present
            index = " ".join(
                f"WHEN {params.add(t * 256 + c)} THEN {i}" for i, item in enumerate(q.expected) for t, c in item.slots
            )
            present_col = f", (SELECT COUNT(DISTINCT CASE {key} {index} END) {latest}) AS present_n"
            missing_n = f"({len(q.expected)} - COALESCE(a.present_n, 0))"
    else:  # without a manifest only placeholder digests are judged here
        packed = f"CASE WHEN e.placeholder THEN {_PACK[3]} ELSE 0 END"
        missing_n = "0"
    slot_cols = f"CAST((SELECT SUM({packed}) {latest}) AS BIGINT) AS v{present_col}"
    missing = missing_n
    unexpected = _unpack("a.v", 1)
    changed = [_unpack("a.v", 2)]
    unproven = [_unpack("a.v", 3)]
    if q.has_reports and q.silent_after is not None:
        cutoff = params.add(db_time(conn, q.now - q.silent_after))
        silent = f"(d.last_report_at IS NOT NULL AND d.last_report_at < {cutoff})"
    else:
        silent = "(1 = 0)"
    vanished = "d.lost_entries"
    if q.has_reports:
        # the collector's open alerts persist a vanished / changed / unexpected slot beyond one observation
        joins.append(
            "LEFT JOIN (SELECT device_id, SUM(CASE WHEN kind = 'vanished' THEN 1 ELSE 0 END) AS vanished_n, "
            "SUM(CASE WHEN kind IN ('changed', 'unexpected') THEN 1 ELSE 0 END) AS drift_n FROM alerts "
            "WHERE resolved_at IS NULL GROUP BY device_id) al ON al.device_id = d.id"
        )
        vanished = "(d.lost_entries + COALESCE(al.vanished_n, 0))"
        changed.append("COALESCE(al.drift_n, 0)")
    if _pg(conn):
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # keep the per-device CTEs and hashes in memory
    # per device, materialised once (the CTE below is read by several branches)
    per_device = f"SELECT d.id AS device_id, {slot_cols} FROM devices d"
    if q.shards > 1:
        per_device += f" WHERE d.id % {params.add(q.shards)} = {params.add(q.shard)}"
    state = _state_case(
        vanished,
        missing,
        " + ".join(changed) or "0",
        unexpected,
        " + ".join(unproven) or "0",
        "d.soonest_expiry",
        silent,
        now,
        horizon,
    )
    seen = "COALESCE(d.last_report_at, d.last_seen)" if q.has_reports else "d.last_seen"
    if q.shards > 1:
        limit, offset = params.add(q.page_size * (q.page + 1)), params.add(0)
    else:
        limit, offset = params.add(q.page_size), params.add(q.page * q.page_size)
    until = params.add(db_time(conn, q.expiry_until))
    if _pg(conn):
        day, day_text = "CAST(d.soonest_expiry AT TIME ZONE 'UTC' AS DATE)", "to_char(day, 'YYYY-MM-DD')"
    else:
        day, day_text = "substr(d.soonest_expiry, 1, 10)", "day"
    rank = " ".join(
        f"WHEN '{g}' THEN {i}" for i, g in enumerate((_MISSING, _EXPIRED, _DRIFT, _EXPIRING, _SILENT, _UNVERIFIABLE))
    )
    # dev: one row per device; read twice: grouped (counts, firmware, expiry days) and for the devices needing
    # action (prob), whose station is looked up (an index probe each; per-station totals: `station_totals`)
    sql = f"""
WITH a AS MATERIALIZED ({per_device}),
dev AS MATERIALIZED (
  SELECT d.id AS device_id, d.imei, d.firmware, d.first_seen, {seen} AS seen_at, {state} AS grp,
         CASE WHEN d.soonest_expiry < {until} THEN {day} END AS day,
         CASE WHEN d.soonest_expiry <= {now} THEN 1 ELSE 0 END AS gone
  FROM devices d JOIN a ON a.device_id = d.id {" ".join(joins)}
),
prob AS MATERIALIZED (
  SELECT device_id, imei, firmware, seen_at, grp, {_station("dev")} AS station FROM dev WHERE grp <> '{_OK}'
)
SELECT 'count' AS section, firmware, CAST(NULL AS VARCHAR(255)) AS station, grp, n, gone AS num,
       {day_text} AS txt, CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS at
FROM (SELECT firmware, grp, day, gone, COUNT(*) AS n FROM dev GROUP BY firmware, grp, day, gone) counted
UNION ALL
SELECT 'station', NULL, station, grp, COUNT(*), NULL, NULL, NULL FROM prob GROUP BY station, grp
UNION ALL
SELECT * FROM (
  SELECT 'page', firmware, station, grp, CAST(NULL AS BIGINT), device_id, imei, seen_at FROM prob
  ORDER BY CASE grp {rank} ELSE 9 END, seen_at DESC, imei LIMIT {limit} OFFSET {offset}
) page
"""
    return list(conn.execute(text(sql), params.values))


def _station(alias: str) -> str:
    """The station that provisioned a device: the one named by its first observation (the factory's apply)."""
    return (
        f"(SELECT s.station FROM snapshots s WHERE s.device_id = {alias}.device_id "
        f"AND s.taken_at = {alias}.first_seen LIMIT 1)"
    )


def station_totals(conn: Connection) -> list[tuple[str | None, int]]:
    """(station, devices) over the whole fleet (one index probe per device: cached by the caller)."""
    sql = (
        f"SELECT station, COUNT(*) FROM (SELECT {_station('d')} AS station FROM "
        "(SELECT id AS device_id, first_seen FROM devices) d) x GROUP BY station"
    )
    return [(st, int(n)) for st, n in conn.execute(text(sql))]


def device_count(conn: Connection) -> tuple[int, int]:
    """(devices, highest device id): whether the per-station totals must be recomputed."""
    row = conn.execute(text("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM devices")).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def daily_deltas(
    conn: Connection,
    expected: Sequence[ExpectedSlot],
    origin: datetime,
    days: int,
    expiring_days: int,
    silent_after: timedelta | None = None,
) -> list[tuple[int, str, int]]:
    """(day index from `origin`, group, +/- devices) events whose running sum is each day's count per group.

    Each snapshot holds from its `taken_at` until the device's next snapshot; its group on a day is derived from
    its entries (as in `fleet_rows`), from the snapshot before it (vanished: a slot of it is gone; told from the
    slot count and fingerprints, and for a snapshot with more slots than the one before by looking the earlier
    slots up, which only growing snapshots cost) and from the day (certificate expiry). A segment starting before
    `origin` counts from day 0.
    With `silent_after` (an inventory with field reports), a device is silent from `silent_after` after a report
    until its next one; where that overlaps an `ok` or `unverifiable` stretch the device counts as silent (the
    severity order of `fleet_rows`).
    """
    params = _Params()
    agg = _aggregate(expected, params)
    org = params.add(db_time(conn, origin))
    last = params.add(days)
    if _pg(conn):
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # keep the per-device CTEs and hashes in memory
        day = f"GREATEST(0, FLOOR(EXTRACT(EPOCH FROM ({{t}} - CAST({org} AS timestamptz))) / 86400))::int"
        shift = f"(min_na - make_interval(days => {params.add(expiring_days)}))"
        quiet_from = "(received_at + make_interval(secs => {s}))"
    else:
        day = f"MAX(0, CAST(FLOOR(julianday({{t}}) - julianday({org})) AS INTEGER))"
        shift = f"strftime('%Y-%m-%d %H:%M:%f', min_na, {params.add(f'-{expiring_days} days')})"
        quiet_from = "strftime('%Y-%m-%d %H:%M:%f', received_at, {s})"
    silence_ctes = silence_events = ""
    if silent_after is not None:
        seconds = silent_after.total_seconds()
        after = params.add(seconds if _pg(conn) else f"+{seconds:.3f} seconds")
        silence_ctes = f""",
quiet AS (
  SELECT device_id, {quiet_from.format(s=after)} AS q0,
         LEAD(received_at) OVER (PARTITION BY device_id ORDER BY received_at, id) AS q1
  FROM reports
),
hush AS (
  SELECT g.grp, CASE WHEN q.q0 > g.a THEN q.q0 ELSE g.a END AS a,
         CASE WHEN g.z IS NULL THEN q.q1 WHEN q.q1 IS NULL OR g.z < q.q1 THEN g.z ELSE q.q1 END AS z
  FROM seg g JOIN quiet q ON q.device_id = g.device_id
  WHERE g.grp IN ('{_OK}', '{_UNVERIFIABLE}') AND (q.q1 IS NULL OR q.q0 < q.q1)
    AND (g.z IS NULL OR q.q0 < g.z) AND (q.q1 IS NULL OR g.a < q.q1)
)"""
        silence_events = f"""
  UNION ALL SELECT {day.format(t="a")}, grp, -1 FROM hush WHERE z IS NULL OR a < z
  UNION ALL SELECT {day.format(t="z")}, grp, 1 FROM hush WHERE z IS NOT NULL AND a < z
  UNION ALL SELECT {day.format(t="a")}, '{_SILENT}', 1 FROM hush WHERE z IS NULL OR a < z
  UNION ALL SELECT {day.format(t="z")}, '{_SILENT}', -1 FROM hush WHERE z IS NOT NULL AND a < z"""
    sql = f"""
WITH per_snap AS MATERIALIZED (
  SELECT s.id, s.device_id, s.taken_at, {agg.columns}, MIN(e.not_after) AS min_na
  FROM snapshots s LEFT JOIN entries e ON e.snapshot_id = s.id GROUP BY s.id, s.device_id, s.taken_at
),
seq AS (
  SELECT id, device_id, taken_at, n, fp1, fp2, min_na,
         COALESCE({agg.missing_n}, 0) AS missing_n, COALESCE({agg.changed_n}, 0) AS changed_n,
         COALESCE(unexpected_n, 0) AS unexpected_n, COALESCE({agg.unverifiable_n}, 0) AS unverifiable_n,
         LAG(n) OVER w AS prev_n, LAG(fp1) OVER w AS prev_fp1, LAG(fp2) OVER w AS prev_fp2,
         LAG(id) OVER w AS prev_id, LEAD(taken_at) OVER w AS next_at
  FROM per_snap WINDOW w AS (PARTITION BY device_id ORDER BY taken_at, id)
),
base AS (
  SELECT device_id, taken_at AS t0, next_at AS t1, min_na, {shift} AS warn_at,
         CASE WHEN missing_n > 0 OR (prev_n IS NOT NULL AND (n < prev_n OR (n = prev_n AND
                   (COALESCE(fp1, 0) <> COALESCE(prev_fp1, 0) OR COALESCE(fp2, 0) <> COALESCE(prev_fp2, 0)))))
                   OR (CASE WHEN n > prev_n THEN EXISTS (
                         SELECT 1 FROM entries p WHERE p.snapshot_id = seq.prev_id AND NOT EXISTS (
                           SELECT 1 FROM entries c WHERE c.snapshot_id = seq.id AND c.sec_tag = p.sec_tag
                             AND c.type = p.type)) ELSE 1 = 0 END)
              THEN '{_MISSING}'
              WHEN changed_n > 0 OR unexpected_n > 0 THEN '{_DRIFT}'
              WHEN unverifiable_n > 0 THEN '{_UNVERIFIABLE}' ELSE '{_OK}' END AS b
  FROM seq
),
seg AS (
  SELECT device_id, t0 AS a,
         CASE WHEN min_na IS NULL THEN t1 WHEN t1 IS NULL OR warn_at < t1 THEN warn_at ELSE t1 END AS z, b AS grp
  FROM base
  UNION ALL
  SELECT device_id, CASE WHEN warn_at > t0 THEN warn_at ELSE t0 END,
         CASE WHEN t1 IS NULL OR min_na < t1 THEN min_na ELSE t1 END,
         CASE WHEN b IN ('{_MISSING}', '{_DRIFT}') THEN b ELSE '{_EXPIRING}' END FROM base WHERE min_na IS NOT NULL
  UNION ALL
  SELECT device_id, CASE WHEN min_na > t0 THEN min_na ELSE t0 END, t1,
         CASE WHEN b = '{_MISSING}' THEN b ELSE '{_EXPIRED}' END FROM base WHERE min_na IS NOT NULL
){silence_ctes},
ev AS (
  SELECT {day.format(t="a")} AS d, grp, 1 AS delta FROM seg WHERE z IS NULL OR a < z
  UNION ALL
  SELECT {day.format(t="z")}, grp, -1 FROM seg WHERE z IS NOT NULL AND a < z{silence_events}
)
SELECT d, grp, SUM(delta) FROM ev WHERE d < {last} GROUP BY d, grp HAVING SUM(delta) <> 0 ORDER BY d, grp
"""
    return [(int(d), str(g), int(n)) for d, g, n in conn.execute(text(sql), params.values)]


# -- one device ---------------------------------------------------------------------------------------------------


def device_row(conn: Connection, imei: str, has_reports: bool) -> Any:
    """(id, imei, uuid, model, firmware, first_seen, last_seen, latest_snapshot_id, previous_snapshot_id,
    lost_entries, soonest_expiry, last_report_at) of one device, or None."""
    last_report = "last_report_at" if has_reports else "NULL"
    return conn.execute(
        text(
            "SELECT id, imei, uuid, model, firmware, first_seen, last_seen, latest_snapshot_id, previous_snapshot_id, "
            f"lost_entries, soonest_expiry, {last_report} FROM devices WHERE imei = :imei"
        ),
        {"imei": imei},
    ).first()


def device_snapshots(conn: Connection, device_id: int) -> list[Any]:
    """(id, taken_at, source, station, host, firmware) of every snapshot of a device, oldest first."""
    return list(
        conn.execute(
            text(
                "SELECT id, taken_at, source, station, host, firmware FROM snapshots WHERE device_id = :d "
                "ORDER BY taken_at, id"
            ),
            {"d": device_id},
        )
    )


def device_entries(conn: Connection, device_id: int) -> list[Any]:
    """(snapshot_id, sec_tag, type, sha256, placeholder, not_after) of every snapshot of a device."""
    return list(
        conn.execute(
            text(
                "SELECT e.snapshot_id, e.sec_tag, e.type, e.sha256, e.placeholder, e.not_after FROM entries e "
                "JOIN snapshots s ON s.id = e.snapshot_id WHERE s.device_id = :d ORDER BY e.snapshot_id, e.sec_tag, "
                "e.type"
            ),
            {"d": device_id},
        )
    )


def device_apply_runs(conn: Connection, device_id: int) -> list[Any]:
    """(id, station, host, started_at, finished_at, ok) of a device's apply runs, oldest first."""
    return list(
        conn.execute(
            text(
                "SELECT id, station, host, started_at, finished_at, ok FROM apply_runs WHERE device_id = :d "
                "ORDER BY started_at, id"
            ),
            {"d": device_id},
        )
    )


def _rows_for(conn: Connection, ids: Sequence[int], query: str) -> list[Any]:
    """The rows of `query` for the given ids (`{ids}` in the query is where their list goes); [] for none."""
    if not ids:
        return []
    params = _Params()
    return list(conn.execute(text(query.format(ids=_marks(params, ids))), params.values))


def apply_actions(conn: Connection, run_ids: Sequence[int]) -> list[Any]:
    """(run_id, sec_tag, type, action, status, reason) of the given apply runs."""
    return _rows_for(
        conn,
        run_ids,
        "SELECT run_id, sec_tag, type, action, status, reason FROM apply_actions WHERE run_id IN ({ids}) "
        "ORDER BY run_id, id",
    )


def latest_entries(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, sec_tag, type, sha256, placeholder, not_after) of the devices' latest snapshots."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT d.id, e.sec_tag, e.type, e.sha256, e.placeholder, e.not_after FROM devices d "
        "JOIN entries e ON e.snapshot_id = d.latest_snapshot_id WHERE d.id IN ({ids}) "
        "ORDER BY d.id, e.sec_tag, e.type",
    )


def lost_entries(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, sec_tag, type, sha256, since) of entries the latest snapshot lost against the one before."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT d.id, p.sec_tag, p.type, p.sha256, s.taken_at FROM devices d "
        "JOIN entries p ON p.snapshot_id = d.previous_snapshot_id "
        "JOIN snapshots s ON s.id = d.latest_snapshot_id "
        "WHERE d.id IN ({ids}) AND d.lost_entries > 0 AND NOT EXISTS (SELECT 1 FROM entries l "
        "WHERE l.snapshot_id = d.latest_snapshot_id AND l.sec_tag = p.sec_tag AND l.type = p.type) "
        "ORDER BY d.id, p.sec_tag, p.type",
    )


def slot_history(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, taken_at, sec_tag, type, sha256) per snapshot and slot of the given devices (None slot when a
    snapshot is empty), oldest first: enough to tell since when a slot has been in its current state."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT s.device_id, s.taken_at, e.sec_tag, e.type, e.sha256 FROM snapshots s "
        "LEFT JOIN entries e ON e.snapshot_id = s.id WHERE s.device_id IN ({ids}) "
        "ORDER BY s.device_id, s.taken_at, s.id",
    )


def open_alerts(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, kind, sec_tag, type, since, detail) of the devices' unresolved alerts (the collector's)."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT device_id, kind, sec_tag, type, since, detail FROM alerts WHERE resolved_at IS NULL "
        "AND device_id IN ({ids}) ORDER BY device_id, since",
    )


def last_reports(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, received_at, tls_errors) of each device's newest field report."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT d.id, r.received_at, r.tls_errors FROM devices d JOIN reports r ON r.id = d.last_report_id "
        "WHERE d.id IN ({ids})",
    )


def last_tls_errors(conn: Connection, device_ids: Sequence[int]) -> list[Any]:
    """(device_id, received_at, tls_errors) of each device's newest report that carried TLS errors."""
    return _rows_for(
        conn,
        device_ids,
        "SELECT r.device_id, r.received_at, r.tls_errors FROM reports r WHERE r.id IN (SELECT MAX(x.id) "
        "FROM reports x WHERE x.device_id IN ({ids}) AND x.tls_errors IS NOT NULL "
        "AND x.tls_errors <> '' GROUP BY x.device_id)",
    )


def device_reports(conn: Connection, device_id: int) -> list[Any]:
    """(id, received_at, seq, uptime_s, app_version, firmware, tls_errors, list_status, list_error, snapshot_id,
    transport) of every field report of a device, oldest first."""
    return list(
        conn.execute(
            text(
                "SELECT id, received_at, seq, uptime_s, app_version, firmware, tls_errors, list_status, list_error, "
                "snapshot_id, transport FROM reports WHERE device_id = :d ORDER BY received_at, id"
            ),
            {"d": device_id},
        )
    )
