"""Errors of the inventory layer (subclasses of the shared tree, so the CLI maps them to exit codes)."""

from __future__ import annotations

from credwarden.errors import CredwardenError, UsageError


class InventoryError(CredwardenError):
    """The inventory database cannot be opened, migrated or written."""


class UnknownDevice(UsageError):
    """No device (or more than one) matches the IMEI / UUID / prefix given."""


class UnknownSnapshot(UsageError):
    """No snapshot matches the id or time given."""
