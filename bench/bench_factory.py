"""Factory line: 16 simulated boards provisioned concurrently vs one board alone, plus the client's peak memory.

The simulators (realistic delays, UART throttled to --baud) run in a separate process, each on its own pty, so
the memory figure (RSS high-water mark, `resource.getrusage`) is the credwarden client's alone. Each board gets a
realistic manifest: two root CAs, plus an on-device key (`%KEYGEN`, about 1.5 s on a real modem) whose CSR is
signed by a local CA and written back with the CA certificate. Every board is fresh, so every run writes.

    .venv/bin/python bench/bench_factory.py [--devices 16] [--baud 115200]

Prints the single-device time and the batch time side by side with their ratio (target: <= 1.3x) and the peak
RSS (target: <= 200 MB). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from credwarden.creds.ca import LocalCA
from credwarden.factory.batch import run_batch
from credwarden.factory.results import DeviceResult
from credwarden.factory.station import Station
from credwarden.factory.view import PlainLineView
from sandbox import use_private_environment


def _imei(n: int) -> str:
    from credwarden.sim.config import luhn_check_digit

    body = f"35000000{n:06d}"
    return body + luhn_check_digit(body)


def serve(count: int, baud: int) -> None:
    """Simulator process: `count` realistic sims on ptys; prints their paths as JSON, runs until stdin closes."""
    import contextlib

    from credwarden.sim import SimConfig, SimModem

    with contextlib.ExitStack() as stack:
        paths = []
        for n in range(count):
            sim = stack.enter_context(
                SimModem(
                    SimConfig(
                        profile="2.0.2",
                        fast=False,
                        baud=baud,
                        imei=_imei(n),
                        device_uuid=f"00000000-0000-4000-8000-{n:012d}",
                    )
                )
            )
            paths.append(stack.enter_context(sim.serve_pty()))
        print(json.dumps(paths), flush=True)
        sys.stdin.read()


def _write_inputs(root: Path) -> Path:
    ca = LocalCA.generate(root / "ca", "bench factory CA")
    other = LocalCA.generate(root / "other", "bench second root")
    (root / "root1.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    (root / "root2.pem").write_bytes(other.certificate.public_bytes(serialization.Encoding.PEM))
    manifest = root / "manifest.toml"
    manifest.write_text(
        '[[credential]]\nsec_tag = 10\ntype = "root-ca"\nfile = "root1.pem"\n'
        '[[credential]]\nsec_tag = 11\ntype = "root-ca"\nfile = "root2.pem"\n'
        '[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\nsubject = "CN=nrf-{imei}"\n'
        "write_ca = true\n"
    )
    return manifest


def _batch(root: Path, manifest: Path, ports: list[str], name: str) -> tuple[float, list[DeviceResult]]:
    station = Station(
        name=name,
        manifest=manifest,
        ports=ports,
        inventory=str(root / "inventory.db"),
        out_dir=root / "issued",
        timeout=120,
    )
    started = time.perf_counter()
    report = run_batch(station, view=PlainLineView(io.StringIO()))
    return time.perf_counter() - started, report.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=16, help="boards in the concurrent batch (default 16)")
    parser.add_argument("--baud", type=int, default=115200, help="simulated UART speed (default 115200)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.baud)
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.devices + 2), "--baud", str(args.baud)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ports: list[str] = json.loads(server.stdout.readline())
        with tempfile.TemporaryDirectory() as directory:
            root = Path(directory)
            use_private_environment(root / "private")  # write journals and inventory stay in the temporary root
            manifest = _write_inputs(root)
            _batch(root, manifest, ports[:1], "bench-warm-up")  # imports, inventory schema, CA key: not timed
            single_s, single = _batch(root, manifest, ports[1:2], "bench-single")
            batch_s, many = _batch(root, manifest, ports[2:], "bench-batch")
            rerun_s, rerun = _batch(root, manifest, ports[2:], "bench-rerun")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bad = [r for r in single + many + rerun if not r.ok]
    for row in bad:
        print(f"FAILED {row.port}: {row.status.value} {row.error}")
    per_device = sum(r.elapsed_s for r in many) / len(many)
    writes = sum(r.writes for r in many)
    print(
        f"factory batch, {args.devices} simulated boards at {args.baud} baud, realistic delays (simulators in a "
        "separate process)"
    )
    print(f"{'':<44} {'wall s':>8} {'ratio':>7}")
    print(f"{'1 board alone':<44} {single_s:>8.2f} {1.0:>7.2f}")
    print(f"{f'{args.devices} boards concurrently':<44} {batch_s:>8.2f} {batch_s / single_s:>7.2f}   (target <= 1.30)")
    print(f"{f'{args.devices} boards rerun (already provisioned)':<44} {rerun_s:>8.2f} {rerun_s / single_s:>7.2f}")
    print(
        f"mean per-board session in the batch: {per_device:.2f} s; device-changing actions: {writes}; "
        f"rerun writes: {sum(r.writes for r in rerun)}"
    )
    print(f"client peak RSS (ru_maxrss): {peak_mb:.1f} MB   (target <= 200 MB)")
    print(f"rows ok: {sum(r.ok for r in single + many + rerun)}/{len(single + many + rerun)}")


if __name__ == "__main__":
    main()
