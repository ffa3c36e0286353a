"""The byte-channel contract every transport fulfils, and `open_transport()` which picks one from a port string."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A byte channel to one device (docs/architecture.md, "Transport")."""

    name: str  #: what was opened, for messages

    def write(self, data: bytes) -> None:
        """Send all of `data`."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Return up to `max_bytes` as soon as any are available; b"" after `timeout` seconds without data."""

    def reset_input(self) -> None:
        """Drop buffered input."""

    def close(self) -> None:
        """Release the channel (idempotent)."""


def open_transport(port: str, *, baud: int = 115200, flow_control: bool = False) -> Transport:
    """Open `port`: a device path, a pyserial URL, `auto` (the single attached Nordic board) or `sim://...`.

    Raises TransportError (with what was tried) when the channel cannot be opened.
    """
    from credwarden.errors import UsageError

    spec = port.strip()
    if not spec:
        raise UsageError("no port given; use --port PATH, a URL such as socket://host:port, sim://, or auto")
    if spec.startswith("sim://"):
        from credwarden.transport.simulated import open_sim

        return open_sim(spec)
    if spec == "auto":
        from credwarden.transport.discovery import find_single_port

        spec = find_single_port()
    from credwarden.transport.serial_port import SerialTransport

    return SerialTransport.open(spec, baud=baud, flow_control=flow_control)
