"""Recording from live commands (`list`, `apply`): one call each, never failing the command itself.

The device command already did its job when these run; if the inventory cannot be written (locked, server
down, device without IMEI) the user gets a one-line warning and the command keeps its result and exit code.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from credwarden.errors import CredwardenError
from credwarden.modem.models import DeviceInfo, StoredEntry

log = logging.getLogger(__name__)
#: Environment variable naming this station in recorded snapshots / runs.
STATION_ENV = "CREDWARDEN_STATION"


class _HasInfo(Protocol):
    def info(self) -> DeviceInfo: ...


def record_list(
    device: _HasInfo, entries: list[StoredEntry], *, db: str | None = None, station: str | None = None
) -> int | None:
    """Store a full `list` result as a `live` snapshot; return its id, or None (with a warning) on failure."""
    from credwarden.inventory.store import Inventory

    try:
        info = device.info()
        with Inventory.open(db) as inv:
            return inv.record_snapshot(info, entries, source="live", station=station or os.environ.get(STATION_ENV))
    except CredwardenError as exc:
        _warn(f"not recorded in the inventory: {exc}")
        return None


def record_apply_run(
    info: DeviceInfo, report: Any, entries: list[StoredEntry] | None = None, *, db: str | None = None,
    station: str | None = None, manifest_path: Path | None = None,
) -> int | None:
    """Store an apply run (and, when given, the list verified after it as an `apply` snapshot)."""
    from credwarden.inventory.store import Inventory

    station = station or os.environ.get(STATION_ENV)
    try:
        manifest_digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest() if manifest_path else None
        with Inventory.open(db) as inv:
            run_id = inv.record_apply(info, report, station, manifest_digest=manifest_digest)
            if entries is not None:
                inv.record_snapshot(info, entries, source="apply", station=station)
            return run_id
    except (CredwardenError, OSError) as exc:
        _warn(f"not recorded in the inventory: {exc}")
        return None


def _warn(message: str) -> None:
    from credwarden.cli.common import stderr_console

    log.warning(message)
    stderr_console.print(f"warning: {message}", highlight=False, markup=False)
