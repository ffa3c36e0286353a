"""The simulated nRF91 modem: NVM store, firmware profiles, front-ends, faults, served on a pty, TCP or in-process.

It parses commands itself and imports only pure data (`credwarden.types`, `credwarden.cme`) from the client
side, so it catches the client's mistakes. See docs/architecture.md ("Simulator") and README "The simulated modem".

The names below load on first use, so importing `credwarden.sim.config` (the option list the CLI and `sim://`
URLs share) does not load the modem itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credwarden.sim.config import (
        TIMING_OPTIONS,
        FirmwareProfile,
        SimConfig,
        Timing,
        profile_for,
        timing_from_ms,
    )
    from credwarden.sim.faults import Faults
    from credwarden.sim.identity import Identity
    from credwarden.sim.simulator import SimModem
    from credwarden.sim.store import CredentialStore, Entry

_HOMES: dict[str, str] = {
    "TIMING_OPTIONS": "config",
    "FirmwareProfile": "config",
    "SimConfig": "config",
    "Timing": "config",
    "profile_for": "config",
    "timing_from_ms": "config",
    "Faults": "faults",
    "Identity": "identity",
    "SimModem": "simulator",
    "CredentialStore": "store",
    "Entry": "store",
}

__all__ = [
    "TIMING_OPTIONS",
    "CredentialStore",
    "Entry",
    "Faults",
    "FirmwareProfile",
    "Identity",
    "SimConfig",
    "SimModem",
    "Timing",
    "profile_for",
    "timing_from_ms",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
