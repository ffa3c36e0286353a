"""Serving channels release their descriptors: connections that come and go must not leak sockets or pipes."""

from __future__ import annotations

import os
import select
import time

from credwarden.sim import SimModem
from credwarden.sim.server import wait_fds
from credwarden.transport.simulated import inprocess

CONNECTIONS = 200


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _wait_detached(sim: SimModem, timeout: float = 5.0) -> None:
    """Wait (bounded, sleeping) until every served channel noticed its peer left."""
    deadline = time.monotonic() + timeout
    while sim.active_channels and time.monotonic() < deadline:
        time.sleep(0.01)


def test_closed_connections_release_their_descriptors(sim: SimModem) -> None:
    warm = inprocess(sim)
    warm.write(b"AT\r")
    assert warm.read(64, 2.0) == b"OK\r\n"
    warm.close()
    _wait_detached(sim)
    baseline = _open_fds()
    for _ in range(CONNECTIONS):
        transport = inprocess(sim)
        transport.write(b"AT\r")
        answer = b""
        while not answer.endswith(b"\r\n"):
            chunk = transport.read(64, 2.0)
            assert chunk, "the simulator stopped answering"
            answer += chunk
        assert answer == b"OK\r\n"
        transport.close()
    _wait_detached(sim)
    assert sim.active_channels == 0
    assert _open_fds() <= baseline + 2, f"{_open_fds() - baseline} descriptors leaked over {CONNECTIONS} connections"


def test_wait_fds_handles_descriptor_numbers_above_select_limit() -> None:
    read_end, write_end = os.pipe()
    high = os.dup2(read_end, 1500) if _can_use_fd(1500) else read_end
    try:
        assert wait_fds([high], select.POLLIN, 0.0) == []  # nothing written yet
        os.write(write_end, b"x")
        assert wait_fds([high], select.POLLIN, 1.0) == [high]
    finally:
        for fd in {read_end, write_end, high}:
            os.close(fd)


def _can_use_fd(number: int) -> bool:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return number < soft
