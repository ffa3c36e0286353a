#!/usr/bin/env python3
"""Field telemetry at fleet scale: reports/s into SQLite and PostgreSQL (database path, report generator and
parser included), reports/s end to end through a real mosquitto broker into a `credwarden collect` process,
a backlog queued while the collector was down drained, and the collector's peak RSS.

    python bench/bench_collect.py                           # full size (starts its own mosquitto if needed)
    python bench/bench_collect.py --devices 1000 --e2e 5000 --backlog 10000    # quick
    scripts/with-postgres.sh python bench/bench_collect.py  # adds PostgreSQL (CREDWARDEN_TEST_PG_URL)

Targets (2-core machine): >= 1,000 reports/s into SQLite and into PostgreSQL, >= 500 reports/s end to end
through mosquitto, a 100,000-report backlog drained in <= 3 minutes. Prints figures and ratios; never asserts.
Temporary directories only: never the user's inventory, journal or broker.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if "CREDWARDEN_TEST_MQTT_URL" not in os.environ and os.environ.get("CREDWARDEN_BENCH_NO_BROKER") != "1":
    # start a throwaway broker around this very script (installs Debian's mosquitto when missing)
    os.execvp("bash", ["bash", str(ROOT / "scripts" / "with-mosquitto.sh"), sys.executable, __file__, *sys.argv[1:]])

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from credwarden.collect.pipeline import ReportPipeline  # noqa: E402
from credwarden.inventory import Inventory  # noqa: E402
from credwarden.inventory.field_reports import IncomingReport  # noqa: E402
from credwarden.report import build_cw1, firmware_block, list_block, parse_report  # noqa: E402
from credwarden.report.imei import luhn_check_digit  # noqa: E402

DB_TARGET = 1_000.0
E2E_TARGET = 500.0
BACKLOG_TARGET_S = 180.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CA = hashlib.sha256(b"ca").hexdigest().upper()


def imei(n: int) -> str:
    body = f"35{n:012d}"
    return body + luhn_check_digit(body)


def report_text(device: int, seq: int, *, changed: bool) -> str:
    """A report of 6 entries; `changed` gives the device another client certificate (a new snapshot)."""
    entries = [(16842753, 0, CA)]
    for code in (1, 2):
        digest = hashlib.sha256(f"{device}-{code}-{seq if changed and code == 1 else 0}".encode()).hexdigest()
        entries.append((16842753, code, digest.upper()))
    entries += [(4294967292, 11, CA), (4294967293, 10, CA), (4294967294, 6, CA)]
    blocks = [firmware_block("mfw_nrf91x1_2.0.2"), list_block(entries)]
    return build_cw1(imei(device), seq, up=seq * 3600, app="2.1.0", blocks=blocks)


def reports(devices: int, rounds: int) -> Iterator[tuple[int, str]]:
    """Round-major: every device once per round; 1% of devices change a credential in each later round."""
    for r in range(1, rounds + 1):
        for d in range(devices):
            yield d, report_text(d, r, changed=r > 1 and d % 100 == r % 100)


def db_path(url: str, devices: int, rounds: int, batch: int) -> tuple[float, int]:
    """(reports/s, reports) of generate + parse + store through the collector's pipeline."""
    with Inventory.open(url) as inv:
        pipeline = ReportPipeline(inv)
        start = time.perf_counter()
        pending: list[IncomingReport] = []
        total = 0
        for index, (_device, text_) in enumerate(reports(devices, rounds)):
            received = T0 + timedelta(seconds=index)
            pending.append(IncomingReport(parse_report(text_), "mqtt", received))
            if len(pending) >= batch:
                total += pipeline.process(pending).accepted
                pending = []
        if pending:
            total += pipeline.process(pending).accepted
        return total / (time.perf_counter() - start), total


def _pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_collect_{os.getpid()}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False), schema


def _drop_schema(base: str, schema: str) -> None:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


class Collector:
    """`credwarden collect` as a child process (its RSS is measured alone)."""

    def __init__(self, broker: str, db: str, client_id: str, state: Path) -> None:
        env = dict(os.environ, CREDWARDEN_STATE_DIR=str(state))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "credwarden", "collect", "--mqtt", broker,
             "--client-id", client_id, "--db", db, "--batch", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_subscribed(self) -> None:
        deadline = time.monotonic() + 30
        while not any("subscribed to" in line for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"collector did not subscribe: {''.join(self.lines)}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(120)


def stored(db: str) -> int:
    with Inventory.open(db) as inv, inv.read() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM reports")).scalar() or 0)


def publish(broker: str, payloads: list[tuple[str, str]]) -> float:
    """Publish QoS 1 as fast as the broker acknowledges (in-flight window 1000); returns seconds."""
    parts = urlsplit(broker)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    start = time.perf_counter()
    outstanding: deque[mqtt.MQTTMessageInfo] = deque()
    for topic, body in payloads:
        outstanding.append(client.publish(topic, body, qos=1))
        while len(outstanding) > 20_000:  # message ids are 16-bit: never more than this in flight or queued
            outstanding.popleft().wait_for_publish(120)
    for info in outstanding:
        info.wait_for_publish(120)
    seconds = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return seconds


def wait_stored(db: str, count: int, timeout_s: float) -> float:
    start = time.perf_counter()
    while stored(db) < count:
        if time.perf_counter() - start > timeout_s:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000, help="devices of the database-path figure")
    parser.add_argument("--rounds", type=int, default=5, help="reports per device (database path)")
    parser.add_argument("--batch", type=int, default=500, help="reports per transaction (database path)")
    parser.add_argument("--e2e", type=int, default=20_000, help="reports published through the broker")
    parser.add_argument("--backlog", type=int, default=100_000, help="reports queued while the collector is down")
    args = parser.parse_args()
    broker = os.environ["CREDWARDEN_TEST_MQTT_URL"]
    pg = os.environ.get("CREDWARDEN_BENCH_PG_URL") or os.environ.get("CREDWARDEN_TEST_PG_URL")
    cores = os.cpu_count()
    print(f"collector benchmark: {cores} CPUs, broker {broker} (mosquitto), temporary inventories only")
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        work = Path(tmp)
        print(f"database path: {args.devices:,} devices x {args.rounds} reports, batch {args.batch} ...", flush=True)
        rate, total = db_path(f"sqlite:///{work / 'db.sqlite'}", args.devices, args.rounds, args.batch)
        rows.append(("reports/s into SQLite (generate+parse+store)", f"{rate:,.0f}", f">= {DB_TARGET:,.0f}",
                     f"{rate / DB_TARGET:.2f}x ({total:,} reports)"))  # fmt: skip
        if pg:
            url, schema = _pg_schema(pg)
            try:
                rate, total = db_path(url, args.devices, args.rounds, args.batch)
            finally:
                _drop_schema(pg, schema)
            rows.append(("reports/s into PostgreSQL (same)", f"{rate:,.0f}", f">= {DB_TARGET:,.0f}",
                         f"{rate / DB_TARGET:.2f}x ({total:,} reports)"))  # fmt: skip
        else:
            rows.append(("reports/s into PostgreSQL", "skipped", "", "no CREDWARDEN_TEST_PG_URL"))
        print(f"end to end: {args.e2e:,} reports through mosquitto ...", flush=True)
        db = str(work / "e2e.sqlite")
        payloads = [(f"cw/v1/{imei(d)}/report", t) for d, t in reports(max(1, args.e2e // 5), 5)][: args.e2e]
        collector = Collector(broker, db, "bench-e2e", work / "state")
        collector.wait_subscribed()
        start = time.perf_counter()
        publish(broker, payloads)
        wait_stored(db, len(payloads), 600)
        seconds = time.perf_counter() - start
        collector.stop()
        rate = stored(db) / seconds
        rows.append(("reports/s end to end (publish -> stored)", f"{rate:,.0f}", f">= {E2E_TARGET:,.0f}",
                     f"{rate / E2E_TARGET:.2f}x ({stored(db):,} of {len(payloads):,})"))  # fmt: skip
        print(f"backlog: {args.backlog:,} reports published while the collector is down ...", flush=True)
        db = str(work / "backlog.sqlite")
        first = Collector(broker, db, "bench-backlog", work / "state")  # registers the persistent session
        first.wait_subscribed()
        first.stop()
        payloads = [(f"cw/v1/{imei(d)}/report", t) for d, t in reports(max(1, args.backlog // 10), 10)][: args.backlog]
        publish_s = publish(broker, payloads)
        drain = Collector(broker, db, "bench-backlog", work / "state")
        start = time.perf_counter()
        wait_stored(db, len(payloads), 900)
        seconds = time.perf_counter() - start
        drain.stop()
        done = stored(db)
        note = f"{seconds / BACKLOG_TARGET_S:.2f}x ({done:,} of {len(payloads):,}; published in {publish_s:.1f} s)"
        rows.append(("backlog drained (s)", f"{seconds:,.1f}", f"<= {BACKLOG_TARGET_S:.0f}", note))
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows.append(("collector peak RSS (MB)", f"{peak:,.1f}", "", "largest collect process"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':>10}  {'target':>9}  ratio")
    for name, value, target, ratio in rows:
        print(f"{name:<{width}}  {value:>10}  {target:>9}  {ratio}")


if __name__ == "__main__":
    main()
