"""Benchmark of `credwarden apply` against the simulator on a pty at 115200 baud with realistic delays.

Prints (no assertion):
  (a) fresh apply of one sec_tag (root CA + client cert + client key): session wall time over the wire-time bound
      of the commands exchanged (bytes on the wire at 115200 baud + the modem's simulated processing time, from
      the simulator's command log) -- target <= 1.25;
  (b) the same job with Nordic's nrfcredstore (three `write` runs and a `list`, from `.interop-venv`), wall time
      ratio to `credwarden apply` run as a process too (skipped with a message when nrfcredstore is unavailable);
  (c) re-apply on the provisioned device: NVM writes (target 0) and AT commands sent (target <= 5).

Usage: .venv/bin/python bench/bench_apply.py [--baud 115200] [--profile 2.0.2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credwarden.api import apply, connect
from credwarden.sim.accounting import read_log, summarise
from sandbox import use_private_environment

ROOT = Path(__file__).resolve().parents[1]
CREDWARDEN = Path(sys.executable).with_name("credwarden")
INTEROP_PYTHON = ROOT / ".interop-venv" / "bin" / "python"
DRIVER = ROOT / "tests" / "interop" / "nrfcredstore_driver.py"


def make_credentials(directory: Path) -> Path:
    """A CA, a client certificate and its key (EC P-256, generated now) and a manifest for sec_tag 42."""

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("bench CA"))
        .issuer_name(name("bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("bench device"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "client.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "client.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    manifest = directory / "manifest.toml"
    manifest.write_text(
        "".join(
            f'[[credential]]\nsec_tag = 42\ntype = "{kind}"\nfile = "{file}"\n\n'
            for kind, file in (("root-ca", "ca.pem"), ("client-cert", "client.pem"), ("client-key", "client.key"))
        )
    )
    return manifest


@contextmanager
def simulator(workdir: Path, name: str, baud: int, profile: str) -> Iterator[tuple[str, Path]]:
    """`credwarden sim` in its own process (realistic delays, UART throttled); yields (pty, command log)."""
    log = workdir / f"{name}.jsonl"
    process = subprocess.Popen(
        [
            str(CREDWARDEN),
            "sim",
            "--state",
            str(workdir / f"{name}.json"),
            "--log",
            str(log),
            "--baud",
            str(baud),
            "--profile",
            profile,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
            os.kill(process.pid, signal.SIGKILL)


def log_records(log: Path, start: int = 0) -> list[dict[str, Any]]:
    return read_log(log)[start:] if log.exists() else []


def has_nrfcredstore() -> bool:
    if not INTEROP_PYTHON.exists():
        return False
    probe = subprocess.run([str(INTEROP_PYTHON), "-c", "import nrfcredstore.cli"], capture_output=True, timeout=60)
    return probe.returncode == 0


def run_nrfcredstore(port: str, directory: Path) -> float:
    """Three writes and a list with nrfcredstore, one process each (as a user would run it)."""
    started = time.perf_counter()
    for kind, file in (("ROOT_CA_CERT", "ca.pem"), ("CLIENT_CERT", "client.pem"), ("CLIENT_KEY", "client.key")):
        subprocess.run(
            [str(INTEROP_PYTHON), str(DRIVER), port, "write", "42", kind, str(directory / file)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    subprocess.run(
        [str(INTEROP_PYTHON), str(DRIVER), port, "list", "--tag", "42"], check=True, capture_output=True, timeout=120
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--profile", default="2.0.2")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        workdir = Path(tmp)
        use_private_environment(workdir)  # `credwarden apply` records and journals: into workdir, not the user's
        manifest = make_credentials(workdir)

        # (a) + (c): in-process API session against a separate simulator process
        with simulator(workdir, "ours", args.baud, args.profile) as (port, log):
            started = time.perf_counter()
            with connect(port, mode="at_client") as dev:
                fresh = apply(dev, manifest)
            wall = time.perf_counter() - started
            time.sleep(0.3)  # let the simulator flush its log line for the last command
            records = log_records(log)
            summary = summarise(records, baud=args.baud)
            with connect(port, mode="at_client") as dev:
                again = apply(dev, manifest)
            time.sleep(0.3)
            rerun = summarise(log_records(log, len(records)), baud=args.baud)
        # Wire-time bound: every byte of the exchange at the UART rate (10 bits per byte), both directions, plus the
        # modem's own processing time (the simulator's `processing_s` excludes the answers' time on the wire).
        wire = (int(summary["bytes_in"]) + int(summary["bytes_out"])) * 10 / args.baud
        bound = wire + float(summary["processing_s"])
        assert fresh.ok and again.ok, (fresh.to_json(), again.to_json())
        rows.append(("(a) fresh apply: session wall s", f"{wall:.3f}", ""))
        rows.append(
            (
                "    commands / bytes on the wire",
                f"{summary['commands']} / {summary['bytes_in'] + summary['bytes_out']}",
                "",
            )
        )
        rows.append(("    wire s (both directions) + modem time s", f"{wire:.3f} + {summary['processing_s']:.3f}", ""))
        rows.append(("    wall / wire-time bound", f"{wall / bound:.2f}", "<= 1.25"))
        rows.append(("(c) re-apply: NVM writes", str(again.nvm_operations), "0"))
        rows.append(("    re-apply: AT commands (apply itself)", str(again.commands), "<= 5"))
        rows.append(
            ("    re-apply: AT commands (whole session)", str(rerun["commands"]), "(incl. CMEE/CFUN session setup)")
        )

        # (b) nrfcredstore vs credwarden, both as processes on fresh simulators
        if has_nrfcredstore():
            with simulator(workdir, "ours-cli", args.baud, args.profile) as (port, _):
                started = time.perf_counter()
                subprocess.run(
                    [str(CREDWARDEN), "apply", str(manifest), "--port", port, "--mode", "at_client"],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                ours_cli = time.perf_counter() - started
            with simulator(workdir, "nrfcredstore", args.baud, args.profile) as (port, _):
                theirs = run_nrfcredstore(port, workdir)
            rows.append(("(b) credwarden apply (process) wall s", f"{ours_cli:.3f}", ""))
            rows.append(("    nrfcredstore 3x write + list wall s", f"{theirs:.3f}", ""))
            rows.append(("    nrfcredstore / credwarden", f"{theirs / ours_cli:.2f}x", "> 1 (we are faster)"))
        else:
            rows.append(
                (
                    "(b) nrfcredstore",
                    "skipped",
                    f"not installed in {INTEROP_PYTHON.parent.parent} (run `make interop` once)",
                )
            )

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>16}  target")
    for label, value, target in rows:
        print(f"{label:<{width}}  {value:>16}  {target}")


if __name__ == "__main__":
    main()
