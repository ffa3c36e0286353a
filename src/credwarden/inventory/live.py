"""Recording what live commands (`list`, `apply`) saw: one call each, after the device session closed.

The device command already did its job when these run; if the inventory cannot be written (locked, server down,
device without IMEI) the call returns warnings for the caller to show, and the command keeps its result and exit
code. Nothing here talks to a device except `list_expiries`, which asks `%CERTEXPIRY` while the session is open.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from credwarden.errors import CredwardenError
from credwarden.models import CertExpiry, DeviceInfo, StoredEntry

if TYPE_CHECKING:
    from credwarden.inventory.store import Inventory

log = logging.getLogger(__name__)
#: Environment variable naming this station in recorded snapshots / runs.
STATION_ENV = "CREDWARDEN_STATION"


@dataclass
class Recorded:
    """What a recording call did: the id it wrote (None when nothing was recorded) and what to tell the user."""

    id: int | None = None
    warnings: list[str] = field(default_factory=list)


class InventoryOpener:
    """Opens the inventory in a background thread while the device session runs (the import, the connection and
    the schema check overlap device I/O instead of following it); `get()` waits for it."""

    def __init__(self, db: str | None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-inventory")
        self._future: Future[Inventory] = self._pool.submit(_open, db)
        self._pool.shutdown(wait=False)

    def get(self) -> Inventory:
        """The open inventory (CredwardenError when it could not be opened)."""
        return self._future.result()


def _open(db: str | None) -> Inventory:
    from credwarden.inventory.store import Inventory

    return Inventory.open(db)


def record_list(
    info: DeviceInfo,
    entries: list[StoredEntry],
    *,
    db: str | None = None,
    station: str | None = None,
    expiries: dict[tuple[int, int], datetime] | None = None,
    opener: InventoryOpener | None = None,
) -> Recorded:
    """Store a full `list` result as a `live` snapshot (with the not_after learned by `list --expiry`)."""
    try:
        with opener.get() if opener is not None else _open(db) as inv:
            snapshot = inv.record_snapshot(
                info, entries, source="live", station=station or os.environ.get(STATION_ENV), expiries=expiries
            )
            return Recorded(snapshot)
    except CredwardenError as exc:
        return _failed(exc)


def record_apply_run(
    info: DeviceInfo,
    report: Any,
    entries: list[StoredEntry] | None = None,
    *,
    db: str | None = None,
    station: str | None = None,
    manifest_path: Path | None = None,
    opener: InventoryOpener | None = None,
) -> Recorded:
    """Store an apply run (and, when given, the list verified after it as an `apply` snapshot).

    The snapshot's certificates get the not_after of the manifest files the run wrote or found identical.
    """
    from credwarden.inventory.expiry import apply_expiries

    station = station or os.environ.get(STATION_ENV)
    try:
        manifest_digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest() if manifest_path else None
        with opener.get() if opener is not None else _open(db) as inv:
            run_id = inv.record_apply(info, report, station, manifest_digest=manifest_digest)
            if entries is not None:
                inv.record_snapshot(info, entries, source="apply", station=station, expiries=apply_expiries(report))
            return Recorded(run_id)
    except (CredwardenError, OSError) as exc:
        return _failed(exc)


def _failed(exc: Exception) -> Recorded:
    message = f"not recorded in the inventory: {exc}"
    log.warning(message)
    return Recorded(None, [message])


class _ExpiryDevice(Protocol):
    def expiry(self, sec_tag: int, type: int) -> CertExpiry: ...


def list_expiries(
    device: _ExpiryDevice, entries: list[StoredEntry], info: DeviceInfo
) -> tuple[dict[tuple[int, int], datetime], list[str]]:
    """not_after of the listed certificates by `%CERTEXPIRY` (firmware >= 1.3), and notes on what was not learned."""
    from credwarden.inventory.expiry import device_expiries, supports_certexpiry

    if not supports_certexpiry(info.firmware_version):
        return {}, ["no expiry recorded: %CERTEXPIRY needs firmware >= 1.3"]
    return device_expiries(device, entries)
