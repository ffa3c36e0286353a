"""Fleet inventory: every observation of every device, its history and drift (SQLite default, PostgreSQL by URL).

from credwarden.inventory import Inventory
with Inventory.open() as inv:                  # --db / CREDWARDEN_DB / per-user default
    inv.record_snapshot(info, entries, source="live", station="line-3")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from credwarden.inventory.errors import InventoryError, UnknownDevice, UnknownSnapshot

if TYPE_CHECKING:
    from credwarden.inventory.records import EntryRecord, SnapshotRecord
    from credwarden.inventory.store import Inventory

#: Names loaded on first use: they pull in SQLAlchemy, which `import credwarden.inventory.<light module>` must not.
_LAZY = {"EntryRecord": "records", "SnapshotRecord": "records", "Inventory": "store"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = ["EntryRecord", "Inventory", "InventoryError", "SnapshotRecord", "UnknownDevice", "UnknownSnapshot"]
