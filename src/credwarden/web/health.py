"""The dashboard's health vocabulary: per-slot kinds, the device groups they fall into, and the repair commands.

Per slot (shared with the collector and the docs): `ok`, `missing` (expected by the manifest, never seen),
`vanished` (was there, now gone), `changed` (digest differs from the manifest), `unexpected` (not in the
manifest), `expiring`, `expired`, `unverifiable` (placeholder digests); per device `silent` (no report for too
long). The overview counts every device once, in the group of its most severe problem (`SEVERITY`), so the
counts add up to the number of devices.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import timedelta

#: Device groups, most severe first: a device is counted in the first group any of its problems falls into.
SEVERITY: tuple[str, ...] = ("missing", "expired", "drift", "expiring", "silent", "unverifiable", "ok")
#: The order the overview shows them in.
GROUPS: tuple[str, ...] = ("ok", "drift", "missing", "expiring", "expired", "silent", "unverifiable")
GROUP_LABELS: dict[str, str] = {
    "ok": "ok",
    "drift": "drift (changed / unexpected)",
    "missing": "missing / vanished",
    "expiring": "expiring",
    "expired": "expired",
    "silent": "silent",
    "unverifiable": "unverifiable",
}
#: Per-slot (and per-device) problem kinds and the group each belongs to.
KIND_GROUP: dict[str, str] = {
    "vanished": "missing",
    "missing": "missing",
    "expired": "expired",
    "changed": "drift",
    "unexpected": "drift",
    "expiring": "expiring",
    "silent": "silent",
    "unverifiable": "unverifiable",
}
KINDS: tuple[str, ...] = tuple(KIND_GROUP)


def severity_rank(group: str) -> int:
    """0 for the most severe group; unknown names sort last."""
    return SEVERITY.index(group) if group in SEVERITY else len(SEVERITY)


#: Hours without a report after which a device that reported before is silent: three missed daily reports, as the
#: collector's defaults (`--interval 86400 --silent-after 3`); one interval would flag every late report.
DEFAULT_SILENT_HOURS = 72.0


@dataclass(frozen=True)
class HealthSettings:
    """Thresholds of the health groups."""

    expiring_days: int = 30
    #: a device that reported before but not for this long is silent (None: never silent)
    silent_after: timedelta | None = timedelta(hours=DEFAULT_SILENT_HOURS)

    def __post_init__(self) -> None:
        if self.expiring_days < 0:
            raise ValueError("expiring_days must not be negative")
        if self.silent_after is not None and self.silent_after <= timedelta(0):
            raise ValueError("silent_after must be positive")


def repair_command(kind: str, imei: str, manifest: str | None) -> str:
    """The command that repairs (or, for a silent device, investigates) one problem, for a person at the device.

    The device is reached on `--port auto` (the single attached board); everything else is exact: the manifest
    the dashboard was started with (or MANIFEST when it has none).
    """
    target = shlex.quote(manifest) if manifest else "MANIFEST"
    if kind in ("vanished", "missing", "changed", "expired", "expiring"):
        return f"credwarden apply {target} --port auto"
    if kind == "unexpected":
        return f"credwarden apply {target} --prune --port auto"
    if kind == "unverifiable":
        return f"credwarden doctor {target} --port auto"
    if kind == "silent":
        return f"credwarden inventory history {imei}"
    raise ValueError(f"unknown problem kind {kind!r}")
