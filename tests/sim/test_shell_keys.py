"""The shell front-end decodes terminal keys as Zephyr's shell does: an escape sequence never eats a command."""

from __future__ import annotations

import pytest
from tests.sim.rawclient import RawPort

from credwarden.sim import SimConfig, SimModem


@pytest.mark.parametrize(
    "keys",
    [b"\x1bz", b"\x1b\r", b"\x1b[A", b"\x1b[z", b"\x1b[1~", b"\x1b[4\r", b"\x1b\x1b", b"\x1b[\x1b"],
    ids=["esc-letter", "esc-cr", "arrow", "csi-other", "home", "end-cut-short", "esc-esc", "csi-esc"],
)
def test_an_escape_sequence_swallows_only_its_own_bytes(keys: bytes) -> None:
    sim = SimModem(SimConfig(frontend="shell", profile="2.0.2", shell_color=False, fast=True))
    try:
        with sim.serve_pty() as path, RawPort(path) as port:
            port.write(keys + b"at AT+CGSN\r")
            out = port.read_until(b"OK\r\n\r\nuart:~$ ", timeout=3.0)
            assert sim.identity.imei.encode() in out, out
            assert b"command not found" not in out
    finally:
        sim.stop()
