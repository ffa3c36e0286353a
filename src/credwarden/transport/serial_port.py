"""pyserial-backed transport: device paths (ptys and symlinks included) and pyserial URLs."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import serial

from credwarden.errors import TransportError

#: URL schemes handed to `serial.serial_for_url` as-is.
URL_SCHEMES = ("socket://", "rfc2217://", "loop://", "spy://", "hwgrep://", "alt://")


class SerialTransport:
    """A Transport over a pyserial port. Never gated on enumeration: any path that opens is accepted."""

    def __init__(self, port: Any, name: str) -> None:
        self._port = port
        self.name = name

    @classmethod
    def open(cls, spec: str, *, baud: int = 115200, flow_control: bool = False) -> SerialTransport:
        """Open a path or URL; TransportError with the reason when that fails."""
        if baud <= 0:
            raise TransportError(f"invalid baud rate {baud}")
        is_url = spec.startswith(URL_SCHEMES)
        if not is_url and not os.path.exists(spec):
            raise TransportError(f"cannot open {spec}: no such device (check the path, or use --port auto)")
        try:
            port = serial.serial_for_url(
                spec, baudrate=baud, rtscts=flow_control, timeout=0, write_timeout=10, do_not_open=True
            )
            if not is_url:
                port.exclusive = True
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {spec}: {exc}") from exc
        return cls(port, spec)

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.name} failed: {exc}") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            self._port.timeout = max(0.0, timeout)
            first: bytes = self._port.read(1)
            if not first:
                return b""
            waiting = min(max(0, int(self._port.in_waiting)), max_bytes - 1)
            if waiting <= 0:
                return first
            self._port.timeout = 0
            rest: bytes = self._port.read(waiting)
            return first + rest
        except (serial.SerialException, OSError, TypeError) as exc:
            raise TransportError(f"read from {self.name} failed (device gone?): {exc}") from exc

    def reset_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()
