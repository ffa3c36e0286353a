"""Several stations writing at once, and a writer killed mid-transaction (SIGKILL): SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from credwarden.inventory import Inventory

WRITER = Path(__file__).with_name("writer_proc.py")
STATIONS = 4
PER_STATION = 15
DEVICES = 5


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_four_stations_write_at_once(db_url: str) -> None:
    Inventory.open(db_url).close()  # schema in place (the writers would also race to create it: see below)
    procs = [_spawn(db_url, f"station-{n}", str(PER_STATION), str(DEVICES)) for n in range(STATIONS)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    with Inventory.open(db_url) as inv:
        devices = inv.devices()
        assert len(devices) == DEVICES
        assert sum(d.snapshots for d in devices) == STATIONS * PER_STATION
        with inv.read() as conn:
            # every device points at its newest snapshot, and the one before it
            rows = conn.execute(
                text(
                    "SELECT d.latest_snapshot_id, d.previous_snapshot_id, "
                    "(SELECT s.id FROM snapshots s WHERE s.device_id = d.id "
                    "ORDER BY s.taken_at DESC, s.id DESC LIMIT 1),"
                    "(SELECT s.id FROM snapshots s WHERE s.device_id = d.id ORDER BY s.taken_at DESC, s.id DESC "
                    "LIMIT 1 OFFSET 1) FROM devices d"
                )
            ).all()
            assert all(r[0] == r[2] and r[1] == r[3] for r in rows), rows
            stations = {r[0] for r in conn.execute(text("SELECT DISTINCT station FROM snapshots"))}
            assert stations == {f"station-{n}" for n in range(STATIONS)}


def test_fresh_database_migrated_once_by_racing_openers(db_url: str) -> None:
    procs = [_spawn(db_url, f"s{n}", "2", "2") for n in range(STATIONS)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Inventory.open(db_url) as inv, inv.read() as conn:
        versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
        assert versions == sorted(set(versions))
        assert sum(d.snapshots for d in inv.devices()) == 2 * STATIONS


def test_writer_killed_mid_transaction_leaves_nothing(db_url: str) -> None:
    with Inventory.open(db_url) as inv:
        inv.record_snapshots_bulk([])  # schema only
    proc = _spawn(db_url, "doomed", "hang")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "inside-transaction", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with Inventory.open(db_url) as inv:
        with inv.read() as conn:
            for table in ("devices", "snapshots", "entries"):
                assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
        # the lock died with the writer: the next station writes at once
        from inventory_helpers import entries, make_info

        inv.record_snapshot(make_info(), entries((1, 0, 1)), source="live")
        assert len(inv.devices()) == 1
