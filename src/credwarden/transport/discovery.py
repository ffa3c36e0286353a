"""`--port auto`: find the single attached Nordic board among the USB serial ports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from credwarden.errors import TransportError

NORDIC_VID = 0x1915
SEGGER_VID = 0x1366
#: J-Link serial numbers of Nordic development kits (nRF9160 DK 000960..., nRF9161/9151 DK 00105...).
NORDIC_JLINK_SERIAL = re.compile(r"^0*(960|105\d)")


@dataclass(frozen=True)
class Candidate:
    """One serial port that belongs to a Nordic board."""

    device: str
    board: str  #: USB serial number (groups the ports of one board)
    description: str
    location: str

    def describe(self) -> str:
        return f"{self.device} ({self.description}, serial {self.board})"


def _is_nordic(vid: int | None, serial_number: str | None) -> bool:
    if vid == NORDIC_VID:
        return True
    return vid == SEGGER_VID and bool(serial_number) and bool(NORDIC_JLINK_SERIAL.match(serial_number or ""))


def nordic_candidates(ports: Iterable[object] | None = None) -> list[Candidate]:
    """Nordic ports among `ports` (pyserial ListPortInfo objects; the attached ones by default)."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    found: list[Candidate] = []
    for info in ports:
        vid = getattr(info, "vid", None)
        serial_number = getattr(info, "serial_number", None)
        if not _is_nordic(vid, serial_number):
            continue
        found.append(
            Candidate(
                device=str(getattr(info, "device", "")),
                board=str(serial_number or getattr(info, "device", "")),
                description=str(getattr(info, "description", "") or getattr(info, "product", "") or "USB serial"),
                location=str(getattr(info, "location", "") or ""),
            )
        )
    return sorted(found, key=lambda c: (c.board, c.location, c.device))


def choose_port(candidates: list[Candidate], others: Iterable[str] = ()) -> str:
    """The AT port of the single board (its first interface); TransportError listing candidates otherwise.

    `others` are the non-Nordic ports present, named in the message when no Nordic board is found.
    """
    boards = sorted({c.board for c in candidates})
    if not boards:
        seen = sorted(others)
        present = f"serial ports present: {', '.join(seen)}" if seen else "no serial ports are present at all"
        raise TransportError(
            "--port auto found no Nordic board (USB VID 0x1915, or a SEGGER J-Link of a Nordic DK); "
            f"{present}; connect one or give --port PATH"
        )
    if len(boards) > 1:
        listing = "; ".join(c.describe() for c in candidates)
        raise TransportError(f"--port auto found {len(boards)} Nordic boards, choose one with --port: {listing}")
    return candidates[0].device


def find_single_port() -> str:
    """Resolve `auto` to a device path (the attached ports as pyserial enumerates them)."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    nordic = nordic_candidates(ports)
    others = [
        f"{getattr(info, 'device', '?')} ({getattr(info, 'description', '') or 'n/a'})"
        for info in ports
        if str(getattr(info, "device", "")) not in {c.device for c in nordic}
    ]
    return choose_port(nordic, others)
