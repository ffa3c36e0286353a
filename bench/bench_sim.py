"""The simulator's UART pacing over a real pty, and its in-process command throughput with `fast=True`.

Pacing: a credential write of 1 kB and 4 kB (content bytes) is sent at each baud rate to a simulator with no
latencies but its UART throttled (`SimConfig(baud=...)`); the wall time from the first byte written to the final
`OK` is printed next to the bound `bytes * 10 / baud` (command + answer, 10 bits per byte) and their ratio
(1.00 = exactly a real UART; above: overhead). Throughput: `AT`, `AT+CGSN` and 1 kB writes through
`inprocess(SimModem)`, commands per second. Run with `.venv/bin/python bench/bench_sim.py [--commands N]`.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import time

from credwarden.sim import SimConfig, SimModem
from credwarden.transport.base import Transport
from credwarden.transport.simulated import inprocess

BAUDS = (9600, 115200, 1_000_000)
SIZES = (1024, 4096)
OK = b"OK\r\n"


def _content(size: int) -> bytes:
    """`size` bytes of PEM-looking text (no quotes), like a certificate body."""
    line = b"MIIBszCCAVmgAwIBAgIEEjSrzTAKBggqhkjOPQQDAjASMRAwDgYDVQQDDAd0ZXN0LWNh\n"
    return (line * (size // len(line) + 1))[:size]


def _write_until(fd: int, data: bytes, answer_end: bytes, timeout: float) -> bytes:
    """Write `data` to the non-blocking `fd` while reading; return what was read up to `answer_end`."""
    pending, received = memoryview(data), b""
    deadline = time.monotonic() + timeout
    while not received.endswith(answer_end):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {answer_end!r} within {timeout:.0f} s (got {received[-60:]!r})")
        readable, writable, _ = select.select([fd], [fd] if pending else [], [], remaining)
        if writable:
            with contextlib.suppress(BlockingIOError):
                pending = pending[os.write(fd, pending) :]
        if readable:
            with contextlib.suppress(BlockingIOError):
                received += os.read(fd, 65536)
    return received


def pacing(baud: int, size: int) -> tuple[int, float, float]:
    """(bytes on the wire, measured wall s, bound s) of one `size`-byte write at `baud` over a pty."""
    # the buffer is raised above the at_client default (4096) so the 4 kB write is not truncated
    sim = SimModem(SimConfig(profile="1.3.5", fast=True, baud=baud, at_buffer=8192))
    command = b'AT%CMNG=0,4242,0,"' + _content(size) + b'"\r'
    try:
        with sim.serve_pty() as path:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                _write_until(fd, b"AT\r", OK, timeout=30)  # the sim notices a newly opened pty by polling
                start = time.perf_counter()
                answer = _write_until(fd, command, OK, timeout=30 + len(command) * 20 / baud)
                wall = time.perf_counter() - start
            finally:
                os.close(fd)
    finally:
        sim.stop()
    if not answer.endswith(OK) or answer.strip() != b"OK":
        raise RuntimeError(f"unexpected answer {answer!r}")
    wire = len(command) + len(answer)
    return wire, wall, wire * 10 / baud


def _exchange(transport: Transport, command: bytes) -> bytes:
    transport.write(command)
    received = b""
    deadline = time.monotonic() + 5.0
    while not received.endswith(OK):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer to {command[:40]!r} (got {received[-60:]!r})")
        received += transport.read(65536, 1.0)
    return received


def throughput(count: int) -> list[tuple[str, float]]:
    """(label, commands per second) through one in-process simulator with `fast=True`."""
    sim = SimModem(SimConfig(profile="1.3.5", fast=True))
    transport = inprocess(sim)
    write = b'AT%CMNG=0,4243,0,"' + _content(1024) + b'"\r'
    rows = [("AT", b"AT\r", count), ("AT+CGSN", b"AT+CGSN\r", count), ("%CMNG=0 1 kB write", write, count // 4 or 1)]
    results = []
    try:
        _exchange(transport, b"AT\r")  # warm-up
        for label, command, n in rows:
            start = time.perf_counter()
            for _ in range(n):
                _exchange(transport, command)
            results.append((label, n / (time.perf_counter() - start)))
    finally:
        transport.close()
        sim.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=400, help="commands per throughput row (default 400)")
    parser.add_argument("--bauds", default=",".join(map(str, BAUDS)), help="comma-separated baud rates")
    args = parser.parse_args()
    if args.commands < 1:
        parser.error("--commands must be at least 1")
    try:
        bauds = [int(item) for item in args.bauds.split(",")]
    except ValueError:
        parser.error(f"--bauds expects comma-separated integers, got {args.bauds!r}")
    if any(baud < 300 for baud in bauds):
        parser.error("every baud rate must be at least 300")

    print("UART pacing over a pty (fast=True, UART throttled): one credential write, command + OK")
    print(f"{'baud':>9} {'content':>8} {'wire bytes':>11} {'bound s':>9} {'wall s':>9} {'wall/bound':>11}")
    for baud in bauds:
        for size in SIZES:
            wire, wall, bound = pacing(baud, size)
            print(f"{baud:>9} {size:>7}B {wire:>11} {bound:>9.4f} {wall:>9.4f} {wall / bound:>10.2f}x")
    print()
    print(f"in-process throughput (fast=True, inprocess(SimModem)), {args.commands} commands per row")
    print(f"{'command':<22} {'commands/s':>11} {'ratio to AT':>12}")
    base = None
    for label, rate in throughput(args.commands):
        base = base or rate
        print(f"{label:<22} {rate:>11.0f} {rate / base:>11.2f}x")


if __name__ == "__main__":
    main()
