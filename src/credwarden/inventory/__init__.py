"""Fleet inventory: every observation of every device, its history and drift (SQLite default, PostgreSQL by URL).

    from credwarden.inventory import Inventory
    with Inventory.open() as inv:                  # --db / CREDWARDEN_DB / per-user default
        inv.record_snapshot(info, entries, source="live", station="line-3")
"""

from credwarden.inventory.errors import InventoryError, UnknownDevice, UnknownSnapshot
from credwarden.inventory.records import EntryRecord, SnapshotRecord
from credwarden.inventory.store import Inventory

__all__ = ["EntryRecord", "Inventory", "InventoryError", "SnapshotRecord", "UnknownDevice", "UnknownSnapshot"]
