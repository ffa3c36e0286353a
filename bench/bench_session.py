"""The client session as a user sees it: connecting and listing a 46-entry store, `credwarden list` as a process
(start-up and inventory recording included) next to the in-process figure and to nrfcredstore 2.1.0's `list` on an
identical simulated device; a silent port; `--help`.

`credwarden sim` runs in its own process on a pty (realistic delays, UART throttled to `--baud`, URC noise). Each
device figure is printed with the wire-time bound of its command sequence (bytes both ways x 10 / baud + the
modem's processing, from the simulator's log). Nothing is asserted; the inventory and the write journal live in a
temporary directory (CREDWARDEN_DB, CREDWARDEN_STATE_DIR), never the user's.

Targets (issue 11): `list` / `list --no-record` wall <= 1.15; `--help` / nrfcredstore `--help` <= 1.0.

Usage: .venv/bin/python bench/bench_session.py [--baud 115200] [--entries 46] [--urc 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CREDWARDEN = Path(sys.executable).with_name("credwarden")
INTEROP_PYTHON = ROOT / ".interop-venv" / "bin" / "python"
DRIVER = ROOT / "tests" / "interop" / "nrfcredstore_driver.py"
CA = "-----BEGIN CERTIFICATE-----\nMIIB{index:04d}\n-----END CERTIFICATE-----\n"
DIALECTS = ("at_client", "shell", "slm")


def populate(state: Path, entries: int) -> None:
    """Write `entries - 3` root CAs into a state file (the 3 modem-owned entries are always listed)."""
    from credwarden.sim import SimConfig, SimModem

    sim = SimModem(SimConfig(fast=True, state_file=state))
    try:
        for index in range(entries - 3):
            answer = sim.execute(f'AT%CMNG=0,{1000 + index},0,"{CA.format(index=index)}"')
            assert answer.rstrip().endswith("OK"), answer
    finally:
        sim.stop()


@contextmanager
def simulator(state: Path, log: Path, frontend: str, args: argparse.Namespace) -> Iterator[str]:
    """`credwarden sim` serving `state` on a pty in its own process; yields the pty path."""
    command = [str(CREDWARDEN), "sim", "--state", str(state), "--log", str(log), "--frontend", frontend]
    command += ["--baud", str(args.baud), "--urc-probability", str(args.urc), "--seed", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    path = process.stdout.readline().strip()
    if not path.startswith("/dev/"):
        process.kill()
        raise SystemExit("the simulator did not start")
    try:
        yield path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def records(log: Path, start: int = 0) -> list[dict[str, Any]]:
    """The simulator's command records from `start` on (after its log stopped growing)."""
    previous = -1
    for _ in range(50):
        size = log.stat().st_size if log.exists() else 0
        if size == previous:
            break
        previous = size
        time.sleep(0.05)
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines[start:] if line.strip()]


def bound(items: list[dict[str, Any]], baud: int) -> float:
    """Wire-time bound: bytes both ways at `baud` (10 bits a byte) + the modem's processing time."""
    wire = sum(int(r["bytes_in"]) + int(r["bytes_out"]) for r in items) * 10 / baud
    return wire + sum(float(r["processing_s"]) for r in items)


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - started, done.returncode


def best(command: list[str], runs: int = 3) -> tuple[float, int]:
    """Fastest of `runs` (start-up is noisy on a shared machine); the exit code of the last."""
    results = [timed(command) for _ in range(runs)]
    return min(r[0] for r in results), results[-1][1]


def has_nrfcredstore() -> bool:
    if not INTEROP_PYTHON.exists():
        return False
    probe = subprocess.run([str(INTEROP_PYTHON), "-c", "import nrfcredstore.cli"], capture_output=True, timeout=60)
    return probe.returncode == 0


def row(figure: str, measured: str, limit: str = "", other: str = "", note: str = "") -> None:
    print(f"{figure:46} {measured:>10} {limit:>10} {other:>14}  {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--entries", type=int, default=46)
    parser.add_argument("--urc", type=float, default=0.05)
    args = parser.parse_args()
    theirs_available = has_nrfcredstore()

    with tempfile.TemporaryDirectory(prefix="bench-session-") as tmp:
        workdir = Path(tmp)
        os.environ["CREDWARDEN_DB"] = str(workdir / "inventory.db")  # never the user's inventory or journal
        os.environ["CREDWARDEN_STATE_DIR"] = str(workdir / "state")
        import credwarden.api as cw
        from credwarden.errors import CredwardenError

        state = workdir / "nvm.json"
        populate(state, args.entries)
        print(f"{args.entries} entries, {args.baud} baud, realistic delays, URC noise p={args.urc}")
        row("figure", "credwarden", "wire bound", "nrfcredstore", "target")
        for frontend in DIALECTS:
            log = workdir / f"{frontend}.jsonl"
            with simulator(state, log, frontend, args) as path:
                started = time.perf_counter()
                cw.connect(path, baud=args.baud).close()  # the first connect of the process also imports
                cold = time.perf_counter() - started
                before = len(records(log))
                started = time.perf_counter()
                dev = cw.connect(path, baud=args.baud)
                connected = time.perf_counter() - started
                setup = records(log, before)
                with dev:
                    started = time.perf_counter()
                    try:
                        listed: list[Any] | None = dev.list()
                    except CredwardenError as exc:
                        listed, refusal = None, str(exc)
                    elapsed = time.perf_counter() - started
                list_records = records(log, before + len(setup))
                row(
                    f"connect (probe {'+ CMEE' if frontend == 'shell' else 'only'}), {frontend}",
                    f"{connected:.3f}s",
                    f"{bound(setup, args.baud):.3f}s",
                    "",
                    f"{len(setup)} command(s): " + ", ".join(str(r["kind"]) for r in setup),
                )
                row(f"  first connect of the process (imports), {frontend}", f"{cold:.3f}s")
                if listed is None:
                    row(f"list {args.entries} entries in-process, {frontend}", f"{elapsed:.3f}s", "", "", "refused:")
                    print(f"      {refusal[:150]}")
                    continue
                row(
                    f"list {len(listed)} entries in-process, {frontend}",
                    f"{elapsed:.3f}s",
                    f"{bound(list_records, args.baud):.3f}s",
                )
                base = [str(CREDWARDEN), "list", "--port", path]
                recorded, code = best(base)
                quiet, quiet_code = best([*base, "--no-record"])
                theirs = ""
                if theirs_available and frontend == "at_client":
                    spent, their_code = best([str(INTEROP_PYTHON), str(DRIVER), path, "list"])
                    theirs = f"{spent:.3f}s" if their_code == 0 else f"exit {their_code}"
                row(f"`credwarden list` process, {frontend}", f"{recorded:.3f}s", "", theirs, f"exit {code}")
                row(f"`credwarden list --no-record` process, {frontend}", f"{quiet:.3f}s", "", "", f"exit {quiet_code}")
                row(f"  list / list --no-record, {frontend}", f"{recorded / quiet:.2f}", "", "", "<= 1.15")
                if theirs and theirs.endswith("s"):
                    row(f"  nrfcredstore list / credwarden list, {frontend}", f"{float(theirs[:-1]) / recorded:.2f}x")

        master, slave = os.openpty()  # a port where nothing answers
        try:
            started = time.perf_counter()
            with suppress(CredwardenError):
                cw.connect(os.ttyname(slave))
            silent = time.perf_counter() - started
            silent_process, silent_code = timed([str(CREDWARDEN), "list", "--port", os.ttyname(slave)])
        finally:
            os.close(master)
            os.close(slave)
        row("silent port reported after (in-process)", f"{silent:.3f}s")
        row("silent port, `credwarden list` process", f"{silent_process:.3f}s", "", "", f"exit {silent_code}")

        help_ours, _ = best([str(CREDWARDEN), "--help"], runs=5)
        if theirs_available:
            help_theirs, _ = best([str(INTEROP_PYTHON), "-m", "nrfcredstore.cli", "--help"], runs=5)
            row("`--help` process", f"{help_ours:.3f}s", "", f"{help_theirs:.3f}s", "")
            row("  credwarden / nrfcredstore `--help`", f"{help_ours / help_theirs:.2f}", "", "", "<= 1.0")
        else:
            row("`--help` process", f"{help_ours:.3f}s", "", "skipped", "(make interop installs nrfcredstore)")
        print("(process figures: best of 3, `--help` best of 5; wire bound from the simulator's log of that exchange)")


if __name__ == "__main__":
    main()
