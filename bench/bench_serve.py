#!/usr/bin/env python3
"""Dashboard at fleet size: the overview's server time and full HTTP request, SQLite and PostgreSQL side by side.

    python bench/bench_serve.py                          # 100,000 devices x 10 observations (about 4 minutes)
    python bench/bench_serve.py --devices 2000           # quick run
    scripts/with-postgres.sh python bench/bench_serve.py # adds PostgreSQL (CREDWARDEN_TEST_PG_URL)
    python bench/bench_serve.py --generate fleet.db      # only write the simulated fleet (for `credwarden serve`)

The fleet comes from bench/fleet_gen.py (written through the inventory's bulk path into a temporary directory /
a throwaway PostgreSQL schema). The dashboard opens it read-only with the fleet's manifest, computes the 90-day
history once (printed: it is cached for finished days), then the overview is timed: the server's own time
(`Dashboard.overview`, SQL + Python) and a full `GET /` through uvicorn on 127.0.0.1 (HTML rendered, received by
the client). Target: overview < 500 ms server time. Prints figures; never asserts. The CPU time of this
process (SQLite works in-process; PostgreSQL in its server) and the load average show how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from credwarden.inventory import Inventory
from credwarden.web.app import create_app
from credwarden.web.data import Dashboard
from credwarden.web.db import check_schema, create_readonly_engine, resolve_readonly_url
from credwarden.web.server import bind
from fleet_gen import EXPECTED, imei_of, populate

TARGET_MS = 500.0


def _serve(app: object) -> tuple[str, object, threading.Thread]:
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    now = datetime.now(UTC)
    start = time.perf_counter()
    with Inventory.open(url) as inv:
        populate(inv, args.devices, args.observations, now=now)
    generate_s = time.perf_counter() - start
    print(f"  [{name}] fleet written in {generate_s:.0f} s", file=sys.stderr)
    db_url = resolve_readonly_url(url)
    engine = create_readonly_engine(db_url)
    _, has_reports = check_schema(engine, db_url)
    dashboard = Dashboard(engine, expected=EXPECTED, manifest="fleet.toml", has_reports=has_reports)
    start = time.perf_counter()
    dashboard.history.compute_now()
    history_s = time.perf_counter() - start
    dashboard.overview()  # warm-up: connection pool, page cache
    server_ms, cpu_ms, load = [], [], []
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        overview = dashboard.overview()
        server_ms.append((time.perf_counter() - start) * 1000)
        cpu_ms.append((time.process_time() - cpu) * 1000)
        load.append(os.getloadavg()[0])
    base, server, thread = _serve(create_app(dashboard))
    http_ms, timing_ms = [], []
    size = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        with urllib.request.urlopen(base + "/") as response:
            body = response.read()
            header = response.headers.get("server-timing", "")
        http_ms.append((time.perf_counter() - start) * 1000)
        timing_ms.append(float(header.partition("dur=")[2] or "nan"))
        size = len(body)
    device_ms = []
    for i in range(args.repeat):
        imei = imei_of((i * 97) % args.devices)
        start = time.perf_counter()
        with urllib.request.urlopen(f"{base}/devices/{imei}") as response:
            response.read()
        device_ms.append((time.perf_counter() - start) * 1000)
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(timeout=10)
    engine.dispose()
    return {
        "devices": float(overview.total),
        "queue": float(overview.queue_total),
        "generate_s": generate_s,
        "history_s": history_s,
        "server_median_ms": statistics.median(server_ms),
        "server_best_ms": min(server_ms),
        "server_max_ms": max(server_ms),
        "cpu_median_ms": statistics.median(cpu_ms),
        "load": statistics.median(load),
        "http_median_ms": statistics.median(http_ms),
        "http_server_timing_ms": statistics.median(timing_ms),
        "html_kib": size / 1024,
        "device_median_ms": statistics.median(device_ms),
    }


def _pg_url() -> str | None:
    return os.environ.get("CREDWARDEN_BENCH_PG_URL") or os.environ.get("CREDWARDEN_TEST_PG_URL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--observations", type=int, default=10, help="observations per device (>= 3)")
    parser.add_argument("--repeat", type=int, default=7, help="timed overview requests per backend")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--generate", metavar="PATH", help="only write the fleet into this SQLite file and exit")
    args = parser.parse_args()
    if args.devices < 100 or args.observations < 3 or args.repeat < 1:
        parser.error("use at least --devices 100, --observations 3, --repeat 1")
    if args.generate:
        if Path(args.generate).exists():
            parser.error(f"{args.generate} exists; give a new file")
        with Inventory.open(args.generate) as inv:
            stored = populate(inv, args.devices, args.observations)
        print(f"{args.generate}: {args.devices:,} devices, {stored:,} observations")
        return 0

    results: dict[str, dict[str, float]] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="cw-bench-serve-") as tmp:
            results["sqlite"] = run_backend("sqlite", str(Path(tmp) / "inventory.db"), args)
    pg = _pg_url()
    if args.backend in ("postgres", "both"):
        if pg is None:
            print("postgres: skipped (no CREDWARDEN_TEST_PG_URL; run under scripts/with-postgres.sh)", file=sys.stderr)
        else:
            schema = f"bench_serve_{int(time.time())}"
            admin = create_engine(pg)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = make_url(pg).update_query_dict({"options": f"-csearch_path={schema}"})
            try:
                results["postgres"] = run_backend("postgres", url.render_as_string(hide_password=False), args)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                admin.dispose()

    backends = list(results)
    print(
        f"\ndashboard benchmark: {args.devices:,} devices x {args.observations} observations, manifest of "
        f"{len(EXPECTED)} slots, {args.repeat} requests each, {os.cpu_count()} CPUs"
    )
    header = f"{'metric':<40}" + "".join(f"{b:>14}" for b in backends) + f"{'target':>12}"
    print(header)
    print("-" * len(header))

    def line(label: str, key: str, fmt: str, target: str = "") -> None:
        cells = "".join(f"{format(results[b].get(key, float('nan')), fmt):>14}" for b in backends)
        print(f"{label:<40}{cells}{target:>12}")

    line("devices", "devices", ",.0f")
    line("devices needing action", "queue", ",.0f")
    line("fleet written (s)", "generate_s", ",.0f")
    line("90-day history, computed once (s)", "history_s", ".1f")
    line("overview server time, median (ms)", "server_median_ms", ".0f", f"< {TARGET_MS:.0f}")
    print(
        f"{'  ratio to target':<40}"
        + "".join(f"{results[b]['server_median_ms'] / TARGET_MS:>13.2f}x" for b in backends)
    )
    line("overview server time, best (ms)", "server_best_ms", ".0f")
    line("overview server time, worst (ms)", "server_max_ms", ".0f")
    line("  CPU time of this process (ms)", "cpu_median_ms", ".0f")
    line("  1-min load average meanwhile", "load", ".1f")
    line("GET / over HTTP, median (ms)", "http_median_ms", ".0f")
    line("  Server-Timing of those (ms)", "http_server_timing_ms", ".0f")
    line("  HTML size (KiB)", "html_kib", ".0f")
    line("GET /devices/<imei>, median (ms)", "device_median_ms", ".0f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
