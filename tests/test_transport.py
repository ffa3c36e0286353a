"""Transports: paths and URLs, `--port auto` discovery, `sim://` URLs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from credwarden.errors import TransportError, UsageError
from credwarden.transport.base import Transport, open_transport
from credwarden.transport.discovery import choose_port, nordic_candidates
from credwarden.transport.simulated import parse_sim_url


@dataclass
class FakePortInfo:
    device: str
    vid: int | None
    serial_number: str | None
    description: str = "USB serial"
    location: str = ""


def test_loop_url_roundtrip() -> None:
    transport = open_transport("loop://")
    try:
        assert isinstance(transport, Transport)
        transport.write(b"AT\r\n")
        assert transport.read(100, 1.0) == b"AT\r\n"
        assert transport.read(100, 0.01) == b""
    finally:
        transport.close()


def test_missing_path_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="no such device"):
        open_transport("/dev/does-not-exist-credwarden")


def test_empty_port_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        open_transport("  ")


def test_symlink_to_pty_opens(sim_pty: tuple[object, str], tmp_path: Path) -> None:
    _, path = sim_pty
    link = tmp_path / "usb-Nordic_Semiconductor_nRF9160-if00"
    os.symlink(path, link)
    transport = open_transport(str(link))
    try:
        transport.write(b"AT\r\n")
        data = b""
        while b"OK" not in data:
            chunk = transport.read(64, 2.0)
            assert chunk, "no answer through the symlink"
            data += chunk
        transport.reset_input()
    finally:
        transport.close()
    assert transport.name == str(link)


def test_discovery_single_board_first_interface() -> None:
    ports = [
        FakePortInfo("/dev/ttyACM2", 0x1366, "000960123456", location="1-1:1.4"),
        FakePortInfo("/dev/ttyACM0", 0x1366, "000960123456", location="1-1:1.0"),
        FakePortInfo("/dev/ttyUSB0", 0x0403, "FT1234"),
    ]
    assert choose_port(nordic_candidates(ports)) == "/dev/ttyACM0"


def test_discovery_thingy_vid() -> None:
    assert choose_port(nordic_candidates([FakePortInfo("/dev/ttyACM5", 0x1915, "ABCD")])) == "/dev/ttyACM5"


def test_discovery_ignores_other_jlinks() -> None:
    assert nordic_candidates([FakePortInfo("/dev/ttyACM0", 0x1366, "000260000001")]) == []


def test_discovery_none_and_several() -> None:
    with pytest.raises(TransportError, match="no Nordic board"):
        choose_port([])
    ports = [FakePortInfo("/dev/ttyACM0", 0x1915, "A"), FakePortInfo("/dev/ttyACM1", 0x1915, "B")]
    with pytest.raises(TransportError, match="2 Nordic boards") as info:
        choose_port(nordic_candidates(ports))
    assert "/dev/ttyACM0" in str(info.value) and "/dev/ttyACM1" in str(info.value)


def test_sim_url_parsing() -> None:
    spec = parse_sim_url("sim:///tmp/state.json?profile=2.0.2&frontend=slm")
    assert (spec.state_file, spec.config.profile, spec.config.frontend, spec.config.fast) == (
        "/tmp/state.json",
        "2.0.2",
        "slm",
        True,
    )
    assert parse_sim_url("sim://").state_file is None
    assert parse_sim_url("sim://rel/state.json").state_file == "rel/state.json"
    with pytest.raises(UsageError, match="unknown sim:// option"):
        parse_sim_url("sim://?colour=red")


def test_sim_url_bad_config_is_usage_error() -> None:
    with pytest.raises(UsageError):
        open_transport("sim://?frontend=telnet")
