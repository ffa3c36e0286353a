"""Client-core figures: dialect detection, listing 46 entries, a silent device, against the tools it replaces.

Usage: .venv/bin/python bench/bench_session.py [--baud 115200] [--entries 46]

`credwarden sim` runs in its own process on a pty with realistic delays and the UART throttled to `--baud`.
The "fixed-sleep tool" column models the host tool described in docs/modem-behaviour.md#host-tools (100 ms sleep after
every response line, 15 s per-command timeout + detection retries: ~19 s to report a silent device); it is a
model, printed next to our measured figures, not a measurement of that tool.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import credwarden.api as cw
from credwarden.errors import DeviceTimeout, ProtocolError
from credwarden.modem.dialect import detect_dialect
from credwarden.sim import SimConfig, SimModem
from credwarden.transport.simulated import inprocess

CA_LINE = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
FIXED_SLEEP_PER_LINE = 0.100
FIXED_TOOL_SILENT = 19.0


def populate(state: Path, entries: int) -> None:
    """Write `entries` root CAs into a state file (fast in-process sim)."""
    sim = SimModem(SimConfig(fast=True, state_file=state))
    try:
        with cw.Device.over(inprocess(sim), mode="at_client") as dev, dev.offline():
            for index in range(entries - 3):  # the 3 modem-owned entries are always listed
                dev.write(1000 + index, 0, CA_LINE.replace("AAAA", f"{index:04d}").encode())
    finally:
        sim.stop()


def start_sim(state: Path, frontend: str, baud: int) -> tuple[subprocess.Popen[str], str]:
    command = [
        str(Path(sys.executable).with_name("credwarden")),
        "sim",
        "--pty",
        "--state",
        str(state),
        "--frontend",
        frontend,
        "--baud",
        str(baud),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    if not path:
        proc.kill()
        raise SystemExit("the simulator did not start")
    return proc, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--entries", type=int, default=46)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json"
        populate(state, args.entries)
        print(f"{'figure':52} {'credwarden':>11} {'fixed-sleep tool (model)':>26} {'ratio':>7}")
        for frontend in ("at_client", "shell", "slm"):
            proc, path = start_sim(state, frontend, args.baud)
            try:
                probe = cw.open_transport(path, baud=args.baud)
                try:
                    started = time.perf_counter()
                    detected = detect_dialect(probe)
                    detection = time.perf_counter() - started
                finally:
                    probe.close()
                assert detected == frontend, detected
                print(
                    f"{'--mode auto detection alone, ' + frontend:52} {detection:10.3f}s "
                    f"{'target < 1 s':>26} {1.0 / detection:6.1f}x"
                )
                started = time.perf_counter()
                dev = cw.connect(path, baud=args.baud)
                connected = time.perf_counter() - started
                with dev:
                    assert dev.dialect == frontend
                    started = time.perf_counter()
                    try:
                        listed = dev.list()
                    except ProtocolError as exc:
                        listed = []
                        refusal = str(exc)
                    elapsed = time.perf_counter() - started
            finally:
                proc.terminate()
                proc.wait(10)
            if not listed:
                print(f"{'connect (detect + CMEE + CFUN), ' + frontend:52} {connected:10.3f}s")
                print(f"  list of {args.entries} entries refused after {elapsed:.3f}s: {refusal[:110]}...")
                continue
            model = elapsed + len(listed) * FIXED_SLEEP_PER_LINE
            print(f"{'connect (detect + CMEE + CFUN), ' + frontend:52} {connected:10.3f}s {'-':>26} {'':>7}")
            print(
                f"{f'list {len(listed)} entries, {frontend}, {args.baud} baud':52} {elapsed:10.3f}s "
                f"{model:25.3f}s {model / elapsed:6.1f}x"
            )
        master, slave = os.openpty()
        try:
            started = time.perf_counter()
            with contextlib.suppress(DeviceTimeout):
                cw.connect(os.ttyname(slave))
            silent = time.perf_counter() - started
        finally:
            os.close(master)
            os.close(slave)
        print(
            f"{'silent device reported after':52} {silent:10.3f}s {FIXED_TOOL_SILENT:25.3f}s "
            f"{FIXED_TOOL_SILENT / silent:6.1f}x"
        )


if __name__ == "__main__":
    main()
