"""Compare a device with a manifest for `doctor`, through the provisioning plan (pure `make_plan`, no writes).

A stored readable entry whose read-back content is a strict prefix of the desired content is reported as
`truncated` (an interrupted or overlong write), not merely `different`.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from credwarden.creds.encoding import equivalent_forms
from credwarden.field.findings import ManifestCheck
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.provision.manifest import load_manifest
from credwarden.provision.plan import PlannedAction, make_plan
from credwarden.provision.resolve import DeviceIdentity, resolve_manifest
from credwarden.types import Dialect


def compare_with_manifest(
    info: DeviceInfo,
    manifest: Path,
    entries: tuple[StoredEntry, ...],
    contents: dict[tuple[int, int], bytes],
) -> tuple[ManifestCheck, ...]:
    """One ManifestCheck per credential the manifest names. ValidationError (ManifestError) for a bad manifest."""
    loaded = load_manifest(manifest)
    dialect = cast(Dialect, info.dialect)
    identity = DeviceIdentity(imei=info.imei, uuid=info.uuid, dialect=dialect, firmware_version=info.firmware_version)
    desired = resolve_manifest(loaded, identity)
    plan = make_plan(desired, entries, dialect=dialect, readback=contents)
    return tuple(_check(action, contents) for action in plan.actions if action.action != "delete")


def manifest_tags(info: DeviceInfo, manifest: Path) -> set[int]:
    """The modem sec_tags the manifest names for this device (to list them one by one when the store is too large
    for one list)."""
    from credwarden.provision.plan import modem_slot

    loaded = load_manifest(manifest)
    dialect = cast(Dialect, info.dialect)
    identity = DeviceIdentity(imei=info.imei, uuid=info.uuid, dialect=dialect, firmware_version=info.firmware_version)
    tags = {modem_slot(d.sec_tag, int(d.type), d.options.native_tls)[0] for d in resolve_manifest(loaded, identity)}
    return tags | {table.sec_tag for table in loaded.spec.keygen}


def _check(action: PlannedAction, contents: dict[tuple[int, int], bytes]) -> ManifestCheck:
    reason = action.reason
    if action.action == "skip":
        status = "unverifiable" if reason.startswith("unverifiable") else "ok"
    elif action.action == "unverifiable":
        status = "unverifiable"
    elif reason == "missing":
        status = "missing"
    else:
        status = "truncated" if _is_truncated(action, contents) else "different"
    return ManifestCheck(action.sec_tag, action.type, status, reason)


def _is_truncated(action: PlannedAction, contents: dict[tuple[int, int], bytes]) -> bool:
    stored = contents.get(action.slot)
    if stored is None or action.desired is None or action.desired.credential.secret:
        return False
    forms = equivalent_forms(action.desired.credential.content).values()
    return any(len(stored) < len(form) and form.startswith(stored) for form in forms)
