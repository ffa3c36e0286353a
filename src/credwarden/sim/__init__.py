"""The simulated nRF91 modem: NVM store, firmware profiles, front-ends, faults, served on a pty, TCP or in-process.

It parses commands itself and imports only pure data (`credwarden.types`, `credwarden.cme`) from the client
side, so it catches the client's mistakes. See docs/architecture.md ("Simulator") and README "The simulated modem".
"""

from __future__ import annotations

from credwarden.sim.config import TIMING_OPTIONS, FirmwareProfile, SimConfig, Timing, profile_for, timing_from_ms
from credwarden.sim.faults import Faults
from credwarden.sim.simulator import SimModem
from credwarden.sim.store import CredentialStore, Entry

__all__ = [
    "TIMING_OPTIONS",
    "CredentialStore",
    "Entry",
    "Faults",
    "FirmwareProfile",
    "SimConfig",
    "SimModem",
    "Timing",
    "profile_for",
    "timing_from_ms",
]
