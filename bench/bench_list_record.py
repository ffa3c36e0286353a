#!/usr/bin/env python3
"""What the default inventory recording costs `credwarden list`, measured the way a user sees it.

    .venv/bin/python bench/bench_list_record.py [--rounds 15] [--baud 115200] [--profile 2.0.2]

`credwarden sim` runs in its own process on a pty (realistic delays, UART throttled to --baud, a state file in a
temporary directory). `credwarden list` and `credwarden list --no-record` run as processes against it, start-up
included, alternating, after one untimed warm-up of each (the warm-up also creates the inventory: the first
recording of a new database migrates its schema). The inventory, the write journal and every XDG directory point
into the temporary directory: nothing of the user's is read or written.

Prints the median and best wall time of each command and the ratio of the medians (target <= 1.15), the AT
commands each sent (from the simulator's command log), and what the recording call itself costs (`record_list`:
its imports, opening the inventory, the schema check, one snapshot) in a fresh interpreter that has loaded what
`list` loads anyway (median of 5), with whether SQLAlchemy got loaded for it.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from credwarden.sim.accounting import read_log
from sandbox import private_environment

CREDWARDEN = Path(sys.executable).with_name("credwarden")
TARGET = 1.15
#: In a fresh interpreter that has loaded what `credwarden list` loads for the device session: the recording
#: call `list` makes after the session closed (open, schema check, one snapshot); prints ms and loaded modules.
_RECORD_ONCE = """
import sys, time
import credwarden.cli.app, credwarden.api, credwarden.modem.device
from credwarden.models import DeviceInfo, StoredEntry
info = DeviceInfo(imei="352656100000002", model="nRF9151-LACA", firmware="mfw_nrf91x1_2.0.2",
                  firmware_version=(2, 0, 2), uuid=None, modem_build_uuid=None, cfun=4, dialect="at_client")
entries = [StoredEntry(16842753, t, f"{t:064X}") for t in range(3)]
started = time.perf_counter()
from credwarden.inventory.live import record_list
assert record_list(info, entries, db=sys.argv[1]).id is not None
print((time.perf_counter() - started) * 1000, "sqlalchemy" in sys.modules)
"""


@contextmanager
def simulator(root: Path, env: dict[str, str], baud: int, profile: str) -> Iterator[tuple[str, Path]]:
    """`credwarden sim` with realistic delays on a pty; yields (pty path, command log)."""
    log = root / "sim.jsonl"
    profile_args = ("--profile", profile)
    process = subprocess.Popen(
        [
            str(CREDWARDEN),
            "sim",
            "--state",
            str(root / "sim.json"),
            "--log",
            str(log),
            "--baud",
            str(baud),
            *profile_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    path = process.stdout.readline().strip()
    if not path.startswith("/dev/"):
        process.kill()
        raise SystemExit(f"credwarden sim did not start: {process.stderr.read() if process.stderr else ''}")
    try:
        yield path, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run_list(port: str, env: dict[str, str], *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(CREDWARDEN), "list", "--port", port, *extra], check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def commands_of(log: Path, start: int) -> tuple[int, int]:
    """(records so far, AT commands since `start`), after letting the simulator flush its log."""
    time.sleep(0.2)
    records = read_log(log) if log.exists() else []
    return len(records), len(records) - start


def record_once(db: Path, env: dict[str, str]) -> tuple[float, bool]:
    out = subprocess.run(
        [sys.executable, "-c", _RECORD_ONCE, str(db)], check=True, capture_output=True, text=True, env=env
    ).stdout.split()
    return float(out[0]), out[1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--profile", default="2.0.2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-bench-record-") as tmp:
        root = Path(tmp)
        env = private_environment(root)
        with simulator(root, env, args.baud, args.profile) as (port, log):
            seen, _ = commands_of(log, 0)
            run_list(port, env)  # warm-up; creates and migrates the inventory
            seen, _ = commands_of(log, seen)
            run_list(port, env, "--no-record")
            seen, _ = commands_of(log, seen)
            recorded: list[float] = []
            plain: list[float] = []
            commands = {"list": 0, "list --no-record": 0}
            for _ in range(args.rounds):
                recorded.append(run_list(port, env))
                seen, commands["list"] = commands_of(log, seen)
                plain.append(run_list(port, env, "--no-record"))
                seen, commands["list --no-record"] = commands_of(log, seen)
        one = [record_once(root / "inventory.db", env) for _ in range(5)]
        snapshots = subprocess.run(
            [str(CREDWARDEN), "inventory", "devices", "--json"], check=True, capture_output=True, text=True, env=env
        ).stdout
    load = os.getloadavg()[0]
    print(
        f"`credwarden list` vs `list --no-record`: processes against `credwarden sim` (mfw {args.profile}, "
        f"{args.baud} baud, realistic delays), {args.rounds} rounds, load average {load:.1f}"
    )
    print(f"{'command':<28}{'median s':>10}{'best s':>10}{'AT cmds':>9}")
    for label, values in (("list (records a snapshot)", recorded), ("list --no-record", plain)):
        key = "list" if label.startswith("list (") else "list --no-record"
        print(f"{label:<28}{statistics.median(values):>10.3f}{min(values):>10.3f}{commands[key]:>9}")
    ratio = statistics.median(recorded) / statistics.median(plain)
    print(f"{'ratio of medians':<28}{ratio:>10.2f}   (target <= {TARGET:.2f})")
    cost = statistics.median(ms for ms, _ in one)
    loaded = any(flag for _, flag in one)
    print(
        f"the recording call (imports, open, schema check, one snapshot): {cost:.1f} ms (median of {len(one)}); "
        f"SQLAlchemy loaded: {'yes' if loaded else 'no'}"
    )
    listed = {d["imei"]: d["snapshots"] for d in json.loads(snapshots)}
    print(f"snapshots in the temporary inventory: {listed}")


if __name__ == "__main__":
    main()
