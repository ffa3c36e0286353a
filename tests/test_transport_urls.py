"""Every kind of port really opens and carries an AT exchange: socket://, rfc2217://, loop://, ptys with flow
control, and `--port auto` through a faked pyserial enumeration."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import serial
import serial.rfc2217
from serial.tools import list_ports

from credwarden import api
from credwarden.errors import TransportError
from credwarden.sim import SimModem
from credwarden.transport.base import Transport, open_transport
from credwarden.transport.serial_port import SerialTransport


def _exchange(transport: Transport, command: bytes = b"AT\r\n") -> bytes:
    transport.write(command)
    data = b""
    while not data.endswith(b"OK\r\n"):
        chunk = transport.read(256, 3.0)
        assert chunk, f"no answer on {transport.name}; got {data!r}"
        data += chunk
    return data


class _PtySerial(serial.Serial):
    """A pty has no modem-control lines; report them idle and ignore RTS/DTR instead of failing the ioctl."""

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return False

    @property
    def dsr(self) -> bool:
        return False

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False


@contextmanager
def rfc2217_bridge(device_path: str) -> Iterator[str]:
    """A minimal RFC 2217 server (pyserial's PortManager) in front of `device_path`; yields its URL."""
    port = _PtySerial(device_path, timeout=0)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    class _Connection:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def write(self, data: bytes) -> None:
            self.sock.sendall(data)

    def serve() -> None:
        listener.settimeout(5)
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        manager = serial.rfc2217.PortManager(port, _Connection(sock))
        with sock:
            while not stop.is_set():
                ready, _, _ = select.select([sock, port.fileno()], [], [], 0.1)
                if sock in ready:
                    data = sock.recv(4096)
                    if not data:
                        return
                    port.write(b"".join(manager.filter(data)))
                if port.fileno() in ready:
                    data = port.read(4096)
                    if data:
                        sock.sendall(b"".join(manager.escape(data)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"rfc2217://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
        port.close()


def test_socket_url_opens_the_tcp_simulator(sim: SimModem) -> None:
    with sim.serve_tcp() as url:
        transport = open_transport(url)
        try:
            assert isinstance(transport, SerialTransport)
            assert _exchange(transport) == b"OK\r\n"
        finally:
            transport.close()


def test_rfc2217_url_opens_through_a_telnet_com_port_server(sim_pty: tuple[SimModem, str]) -> None:
    _, path = sim_pty
    with rfc2217_bridge(path) as url, api.connect(url, mode="auto") as dev:
        assert dev.dialect == "at_client"
        assert dev.info().imei == sim_pty[0].config.imei


def test_loop_url_is_a_transport() -> None:
    transport = open_transport("loop://", baud=9600)
    try:
        transport.write(b"AT\r\n")
        assert transport.read(16, 1.0) == b"AT\r\n"
    finally:
        transport.close()


def test_flow_control_option_reaches_the_port(sim_pty: tuple[SimModem, str]) -> None:
    _, path = sim_pty
    for enabled in (True, False):
        transport = open_transport(path, baud=57600, flow_control=enabled)
        try:
            assert isinstance(transport, SerialTransport)
            assert transport._port.rtscts is enabled
            assert transport._port.baudrate == 57600
            assert _exchange(transport) == b"OK\r\n"
        finally:
            transport.close()


def test_bad_baud_is_refused() -> None:
    with pytest.raises(TransportError, match="invalid baud"):
        open_transport("loop://", baud=0)


@dataclass
class FakePort:
    device: str
    vid: int | None
    serial_number: str | None
    description: str = "USB serial"
    location: str = ""


def test_port_auto_opens_the_single_nordic_board(
    sim_pty: tuple[SimModem, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, path = sim_pty
    ports = [
        FakePort("/dev/ttyUSB7", 0x0403, "FT0001", "FTDI adapter"),
        FakePort(path, 0x1915, "THINGY91-1", "Thingy:91 UART", "1-2:1.0"),
        FakePort("/dev/does-not-exist-second-if", 0x1915, "THINGY91-1", "Thingy:91 UART", "1-2:1.2"),
    ]
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: ports)
    with api.connect("auto", mode="auto") as dev:
        assert dev.port == "auto"
        assert dev.info().imei == sim.config.imei


def test_port_auto_lists_candidates_or_what_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    boards = [FakePort("/dev/ttyACM0", 0x1915, "A", "nRF9160 DK"), FakePort("/dev/ttyACM3", 0x1366, "001050000001")]
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: boards)
    with pytest.raises(TransportError, match="2 Nordic boards") as several:
        open_transport("auto")
    assert "/dev/ttyACM0" in str(several.value) and "/dev/ttyACM3" in str(several.value)

    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [FakePort("/dev/ttyUSB0", 0x0403, "FT1", "FTDI")])
    with pytest.raises(TransportError, match=r"no Nordic board.*/dev/ttyUSB0 \(FTDI\)"):
        open_transport("auto")
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [])
    with pytest.raises(TransportError, match="no serial ports are present"):
        open_transport("auto")
