"""Audit: a device's stored credentials against a manifest, with provisioning's own plan (same equivalence rules).

Live devices are audited by `credwarden.provision.plan` (read-only). A snapshot from the inventory is audited
by the pure `make_plan` over its entries: no read-back is possible there, so entries whose digest proves
nothing stay `unverifiable` (or follow the manifest's `unverifiable` policy) exactly as apply would plan them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credwarden.errors import UsageError
from credwarden.inventory.views import SnapshotView, iso
from credwarden.models import StoredEntry
from credwarden.types import as_dialect


@dataclass(frozen=True)
class AuditResult:
    """The plan apply would make, and where the observed state came from."""

    plan: Any  #: credwarden.provision.Plan
    source: str  #: "device" | "inventory"
    imei: str | None
    snapshot_id: int | None = None
    taken_at: Any = None

    @property
    def in_sync(self) -> bool:
        return bool(self.plan.in_sync)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "imei": self.imei,
            "snapshot_id": self.snapshot_id,
            "taken_at": iso(self.taken_at),
            "in_sync": self.in_sync,
            "plan": self.plan.to_json(),
        }


def audit_snapshot(
    view: SnapshotView, manifest: str | Path, *, dialect: str = "at_client", uuid: str | None = None
) -> AuditResult:
    """Plan the manifest against an inventory snapshot (placeholders resolve with the device's IMEI / UUID)."""
    from credwarden.provision import DeviceIdentity, load_manifest, make_plan, resolve_manifest

    try:
        front_end = as_dialect(dialect)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    loaded = load_manifest(manifest)
    desired = resolve_manifest(loaded, DeviceIdentity(imei=view.imei, uuid=uuid, dialect=front_end))
    observed = [StoredEntry(e.sec_tag, e.type, e.sha256) for e in view.entries]
    plan = make_plan(desired, observed, dialect=front_end)
    return AuditResult(plan=plan, source="inventory", imei=view.imei, snapshot_id=view.id, taken_at=view.taken_at)
