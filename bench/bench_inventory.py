#!/usr/bin/env python3
"""Inventory at fleet scale: bulk ingest rate, fleet-wide drift and the Prometheus export, side by side for
SQLite and PostgreSQL (fast and durable server settings).

    python bench/bench_inventory.py                     # 100,000 devices x 10 snapshots x 6 entries
    python bench/bench_inventory.py --devices 2000      # quick run
    scripts/with-postgres.sh --also-durable python bench/bench_inventory.py   # adds both PostgreSQL columns

PostgreSQL columns: `pg fast` is CREDWARDEN_BENCH_PG_URL or CREDWARDEN_TEST_PG_URL (the test server trades
durability for speed: fsync, synchronous_commit and full_page_writes off), `pg durable` is
CREDWARDEN_TEST_PG_DURABLE_URL (all three on); the settings each server really runs with are printed. Each
PostgreSQL run uses a schema of its own, dropped afterwards; SQLite runs in a temporary directory. Nothing of
the user's (inventory, journal, files) is read or written.

Targets: ingest >= 5,000 snapshots/s (SQLite and durable PostgreSQL, 2 cores), drift over the whole fleet
< 1 s. Prints figures and their ratio to the target; never asserts. Data: every device checks in once per
round; the last round has 1% of devices missing a credential, 1% with a replaced root CA, and certificates
expiring soon on 1%. The load average is printed: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from credwarden.inventory import EntryRecord, Inventory, SnapshotRecord
from credwarden.inventory.drift import ExpectedSlot
from credwarden.types import luhn_check_digit

INGEST_TARGET = 5_000.0  # snapshots per second
DRIFT_TARGET = 1.0  # seconds
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CA_SHA = "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"
OTHER_CA_SHA = "56AE01E6773BDAEC4BFB216D4005ADB06E4F680BD8BFB8BE4C683CE921681897"
EXPECTED = [
    ExpectedSlot(16842753, 0, ((16842753, 0),), frozenset({CA_SHA})),
    ExpectedSlot(16842753, 1, ((16842753, 1),), None),
    ExpectedSlot(16842753, 2, ((16842753, 2),), None),
]


def _imei(serial: int) -> str:
    body = f"35{serial:012d}"
    return body + luhn_check_digit(body)


IMEIS: list[str] = []


def snapshots(devices: int, rounds: int, entries: int, now: datetime) -> Iterator[SnapshotRecord]:
    """Round-major check-ins: every device once per round (realistic arrival order)."""
    IMEIS[:] = [_imei(d) for d in range(devices)]
    for r in range(rounds):
        taken = T0 + timedelta(hours=r)
        last = r == rounds - 1
        for d in range(devices):
            imei = IMEIS[d] if d < len(IMEIS) else _imei(d)
            ca = OTHER_CA_SHA if last and d % 100 == 1 else CA_SHA
            expiry = now + timedelta(days=10) if last and d % 100 == 2 else now + timedelta(days=365)
            rows = [
                EntryRecord(16842753, 0, ca, False),
                EntryRecord(16842753, 1, f"{d:032X}{1:032X}", False, expiry),
                EntryRecord(16842753, 2, f"{d:032X}{2:032X}", False),
            ]
            for extra in range(max(0, entries - 3)):
                rows.append(EntryRecord(1000 + extra, 4, f"{d:032X}{extra + 16:032X}", False))
            if last and d % 100 == 0:
                rows.pop(2)  # lost its private key (and so misses a manifest entry)
            yield SnapshotRecord(
                imei=imei,
                taken_at=taken,
                source="live",
                entries=tuple(rows),
                firmware="mfw_nrf91x1_2.0.2",
                station=f"station-{d % 4}",
                host="bench",
            )


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    now = datetime.now(UTC)
    inv = Inventory.open(url)
    total = args.devices * args.snapshots
    write_seconds = 0.0
    batch: list[SnapshotRecord] = []
    stored = 0
    progress_every = max(total // 10, 1)

    def flush() -> None:
        nonlocal write_seconds, stored
        start = time.perf_counter()
        stored += inv.record_snapshots_bulk(batch, batch_size=len(batch))
        write_seconds += time.perf_counter() - start
        if stored % progress_every < len(batch):
            print(f"  [{name}] {stored:,}/{total:,} snapshots, {stored / write_seconds:,.0f}/s", file=sys.stderr)
        batch.clear()

    for record in snapshots(args.devices, args.snapshots, args.entries, now):
        batch.append(record)
        if len(batch) >= args.batch:
            flush()
    if batch:
        flush()
    start = time.perf_counter()
    inv.optimize()  # statistics (and PostgreSQL's visibility map), as autovacuum would do some time later
    analyze_seconds = time.perf_counter() - start

    timings = []
    for _ in range(3):
        start = time.perf_counter()
        report = inv.drift(EXPECTED, manifest="bench", days=30, now=now)
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    bare = inv.drift(days=30, now=now)
    bare_seconds = time.perf_counter() - start
    start = time.perf_counter()
    exported = inv.export("prometheus", EXPECTED, now=now)
    export_seconds = time.perf_counter() - start
    inv.close()
    return {
        "snapshots": float(stored),
        "entries": float(stored * args.entries),
        "ingest_rate": stored / write_seconds,
        "ingest_seconds": write_seconds,
        "analyze_seconds": analyze_seconds,
        "drift_seconds": min(timings),
        "drift_bare_seconds": bare_seconds,
        "drifted": float(len(report.drifted)),
        "drifted_bare": float(len(bare.drifted)),
        "export_seconds": export_seconds,
        "export_lines": float(exported.count("\n")),
    }


def _pg_urls() -> dict[str, str]:
    urls = {
        "pg fast": os.environ.get("CREDWARDEN_BENCH_PG_URL") or os.environ.get("CREDWARDEN_TEST_PG_URL"),
        "pg durable": os.environ.get("CREDWARDEN_TEST_PG_DURABLE_URL"),
    }
    return {k: v for k, v in urls.items() if v}


def _pg_settings(base: str) -> str:
    """fsync / synchronous_commit / full_page_writes as the server reports them."""
    engine = create_engine(base)
    with engine.connect() as conn:
        values = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in DURABILITY_SETTINGS]
    engine.dispose()
    return "/".join(str(v) for v in values)


#: PostgreSQL settings that decide whether a commit survives a power cut (printed per column).
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


def _fresh_pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_{int(time.time())}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _drop_pg_schema(base: str, schema: str) -> None:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=10, help="snapshots per device")
    parser.add_argument("--entries", type=int, default=6, help="entries per snapshot (>= 3)")
    parser.add_argument("--batch", type=int, default=5_000, help="snapshots per transaction")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if args.devices < 100 or args.entries < 3 or args.snapshots < 2:
        parser.error("use at least --devices 100, --snapshots 2, --entries 3")

    results: dict[str, dict[str, float]] = {}
    settings: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
            path = Path(tmp) / "inventory.db"
            results["sqlite"] = run_backend("sqlite", str(path), args)
            results["sqlite"]["db_mib"] = (
                sum(p.stat().st_size for p in Path(tmp).iterdir() if p.name.startswith("inventory.db")) / 2**20
            )
    if args.backend in ("postgres", "both"):
        pgs = _pg_urls()
        if not pgs:
            print("postgres: skipped (no CREDWARDEN_TEST_PG_URL; run under scripts/with-postgres.sh)", file=sys.stderr)
        for name, pg in pgs.items():
            settings[name] = _pg_settings(pg)
            url, schema = _fresh_pg_schema(pg)
            try:
                results[name] = run_backend(name, url, args)
            finally:
                _drop_pg_schema(pg, schema)

    backends = list(results)
    print(
        f"\ninventory benchmark: {args.devices:,} devices x {args.snapshots} snapshots x {args.entries} entries "
        f"(batch {args.batch:,}), {os.cpu_count()} CPUs, load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after"
    )
    header = f"{'metric':<34}" + "".join(f"{b:>16}" for b in backends) + f"{'target':>14}"
    print(header)
    print("-" * len(header))
    print(f"{'  ' + '/'.join(DURABILITY_SETTINGS):<34}" + "".join(f"{settings.get(b, '-'):>16}" for b in backends))

    def line(label: str, key: str, fmt: str, target: str = "") -> None:
        cells = "".join(f"{format(results[b].get(key, float('nan')), fmt):>16}" for b in backends)
        print(f"{label:<34}{cells}{target:>14}")

    line("snapshots stored", "snapshots", ",.0f")
    line("entries stored", "entries", ",.0f")
    line("ingest time (s)", "ingest_seconds", ",.1f")
    line("ingest rate (snapshots/s)", "ingest_rate", ",.0f", f">= {INGEST_TARGET:,.0f}")
    print(
        f"{'  ratio to target':<34}" + "".join(f"{results[b]['ingest_rate'] / INGEST_TARGET:>15.2f}x" for b in backends)
    )
    line("then (VACUUM) ANALYZE (s)", "analyze_seconds", ",.1f")
    line("drift, manifest (s, best of 3)", "drift_seconds", ".3f", f"< {DRIFT_TARGET:.1f}")
    print(
        f"{'  ratio to target':<34}"
        + "".join(f"{results[b]['drift_seconds'] / DRIFT_TARGET:>15.2f}x" for b in backends)
    )
    line("  devices drifted", "drifted", ",.0f")
    line("drift, no manifest (s)", "drift_bare_seconds", ".3f")
    line("  devices drifted", "drifted_bare", ",.0f")
    line("export prometheus (s)", "export_seconds", ".2f")
    line("  lines (series + HELP/TYPE)", "export_lines", ",.0f")
    if "sqlite" in results:
        line("database size (MiB)", "db_mib", ",.1f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
