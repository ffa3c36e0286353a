"""Recording from live commands (`list`, `apply`): one call each, never failing the command itself.

The device command already did its job when these run; if the inventory cannot be written (locked, server
down, device without IMEI) the user gets a one-line warning and the command keeps its result and exit code.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from credwarden.errors import CredwardenError
from credwarden.models import CertExpiry, DeviceInfo, StoredEntry

log = logging.getLogger(__name__)
#: Environment variable naming this station in recorded snapshots / runs.
STATION_ENV = "CREDWARDEN_STATION"


class _HasInfo(Protocol):
    def info(self) -> DeviceInfo: ...


def record_list(
    device: _ExpiryDevice,
    entries: list[StoredEntry],
    *,
    db: str | None = None,
    station: str | None = None,
    with_expiry: bool = False,
) -> int | None:
    """Store a full `list` result as a `live` snapshot; return its id, or None (with a warning) on failure.

    `with_expiry` (`list --expiry`): also record the certificates' not_after learned from `%CERTEXPIRY`.
    The device identity is read once, for both.
    """
    from credwarden.inventory.store import Inventory

    try:
        info = device.info()
    except CredwardenError as exc:
        _warn(f"not recorded in the inventory: {exc}")
        return None
    expiries = list_expiries(device, entries, info) if with_expiry else None
    try:
        with Inventory.open(db) as inv:
            return inv.record_snapshot(
                info, entries, source="live", station=station or os.environ.get(STATION_ENV), expiries=expiries
            )
    except CredwardenError as exc:
        _warn(f"not recorded in the inventory: {exc}")
        return None


def record_apply_run(
    info: DeviceInfo,
    report: Any,
    entries: list[StoredEntry] | None = None,
    *,
    db: str | None = None,
    station: str | None = None,
    manifest_path: Path | None = None,
) -> int | None:
    """Store an apply run (and, when given, the list verified after it as an `apply` snapshot).

    The snapshot's certificates get the not_after of the manifest files the run wrote or found identical.
    """
    from credwarden.inventory.expiry import apply_expiries
    from credwarden.inventory.store import Inventory

    station = station or os.environ.get(STATION_ENV)
    try:
        manifest_digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest() if manifest_path else None
        with Inventory.open(db) as inv:
            run_id = inv.record_apply(info, report, station, manifest_digest=manifest_digest)
            if entries is not None:
                inv.record_snapshot(info, entries, source="apply", station=station, expiries=apply_expiries(report))
            return run_id
    except (CredwardenError, OSError) as exc:
        _warn(f"not recorded in the inventory: {exc}")
        return None


def _warn(message: str) -> None:
    from credwarden.cli.common import stderr_console

    log.warning(message)
    stderr_console.print(f"warning: {message}", highlight=False, markup=False)


class _Lists(Protocol):
    def list(self) -> list[StoredEntry]: ...


def list_after_apply(device: _Lists) -> list[StoredEntry] | None:
    """The store as an apply left it (for the `apply` snapshot), or None with a warning if it cannot be listed."""
    try:
        return device.list()
    except CredwardenError as exc:
        _warn(f"no snapshot recorded after apply (list failed: {exc})")
        return None


class _ExpiryDevice(_HasInfo, Protocol):
    def expiry(self, sec_tag: int, type: int) -> CertExpiry: ...


def list_expiries(
    device: _ExpiryDevice, entries: list[StoredEntry], info: DeviceInfo
) -> dict[tuple[int, int], datetime]:
    """not_after of the listed certificates by `%CERTEXPIRY` (firmware >= 1.3); refusals become warnings."""
    from credwarden.inventory.expiry import device_expiries, supports_certexpiry

    if not supports_certexpiry(info.firmware_version):
        _warn("no expiry recorded: %CERTEXPIRY needs firmware >= 1.3")
        return {}
    found, notes = device_expiries(device, entries)
    for note in notes:
        _warn(note)
    return found
