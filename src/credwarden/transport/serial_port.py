"""pyserial-backed transport: device paths (ptys and symlinks included) and pyserial URLs."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import serial

from credwarden.errors import TransportError

#: URL schemes handed to `serial.serial_for_url` as-is.
URL_SCHEMES = ("socket://", "rfc2217://", "loop://", "spy://", "hwgrep://", "alt://")
#: Ports whose timeout must not change per read: pyserial's RFC 2217 client renegotiates every setting with the
#: server (>= 50 ms) whenever `timeout` is assigned, and refuses `write_timeout` altogether.
_FIXED_TIMEOUT_SCHEMES = ("rfc2217://",)
#: Their read timeout: reads wait in slices of this length (data still returns as soon as it arrives).
_READ_SLICE_S = 0.02


class SerialTransport:
    """A Transport over a pyserial port. Never gated on enumeration: any path that opens is accepted."""

    def __init__(self, port: Any, name: str, *, fixed_timeout: bool = False) -> None:
        self._port = port
        self.name = name
        self._fixed_timeout = fixed_timeout

    @classmethod
    def open(cls, spec: str, *, baud: int = 115200, flow_control: bool = False) -> SerialTransport:
        """Open a path or URL; TransportError with the reason when that fails."""
        if baud <= 0:
            raise TransportError(f"invalid baud rate {baud}")
        is_url = spec.startswith(URL_SCHEMES)
        if not is_url and not os.path.exists(spec):
            raise TransportError(f"cannot open {spec}: no such device (check the path, or use --port auto)")
        fixed = spec.startswith(_FIXED_TIMEOUT_SCHEMES)
        try:
            port = serial.serial_for_url(
                spec,
                baudrate=baud,
                rtscts=flow_control,
                timeout=_READ_SLICE_S if fixed else 0,
                write_timeout=None if fixed else 10,
                do_not_open=True,
            )
            if not is_url:
                port.exclusive = True
            port.open()
        except (serial.SerialException, OSError, ValueError, NotImplementedError) as exc:
            raise TransportError(f"cannot open {spec}: {exc}") from exc
        return cls(port, spec, fixed_timeout=fixed)

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.name} failed: {exc}") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            if self._fixed_timeout:
                return self._read_in_slices(max_bytes, timeout)
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

    def _read_in_slices(self, max_bytes: int, timeout: float) -> bytes:
        """Read without touching the port's timeout (RFC 2217); overshoots `timeout` by at most one slice."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            waiting = min(max(0, int(self._port.in_waiting)), max_bytes)
            if waiting:
                data: bytes = self._port.read(waiting)
                return data
            if time.monotonic() >= deadline:
                return b""
            first: bytes = self._port.read(1)  # waits one slice at most, returns at once when a byte arrives
            if first:
                waiting = min(max(0, int(self._port.in_waiting)), max_bytes - 1)
                return first + (self._port.read(waiting) if waiting > 0 else b"")

    def reset_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()
