"""Export the fleet's latest state: JSON, CSV (one row per device) or Prometheus text exposition.

Prometheus metrics (text format 0.0.4; one sample per device unless noted):
    credwarden_inventory_devices                       devices with at least one snapshot (no labels)
    credwarden_credentials{imei}                       entries in the latest snapshot
    credwarden_credentials_missing{imei}               manifest entries absent (0 without a manifest)
    credwarden_digest_mismatch{imei}                   manifest entries stored with another digest
    credwarden_credentials_unverifiable{imei}          manifest entries whose digest proves nothing
    credwarden_credentials_lost{imei}                  entries of the previous snapshot gone in the latest
    credwarden_snapshot_age_seconds{imei}              now - taken_at of the latest snapshot
    credwarden_cert_expires_in_seconds{imei,sec_tag,type}  per certificate with a known expiry (negative: expired)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from credwarden.inventory.views import iso
from credwarden.types import type_name

if TYPE_CHECKING:
    from credwarden.inventory.drift import DeviceStatus

FORMATS: tuple[str, ...] = ("json", "csv", "prometheus")
CSV_COLUMNS: tuple[str, ...] = (
    "imei",
    "uuid",
    "firmware",
    "latest_snapshot_id",
    "taken_at",
    "snapshot_age_seconds",
    "credentials",
    "missing",
    "mismatch",
    "unverifiable",
    "lost",
    "expiring",
    "expired",
    "soonest_expiry",
)

_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("credwarden_credentials", "Credentials listed in the device's latest snapshot.", "entries"),
    ("credwarden_credentials_missing", "Manifest credentials absent from the latest snapshot.", "missing"),
    ("credwarden_digest_mismatch", "Manifest credentials stored with a different digest.", "mismatch"),
    ("credwarden_credentials_unverifiable", "Manifest credentials whose listed digest proves nothing.", "unverifiable"),
    ("credwarden_credentials_lost", "Credentials of the previous snapshot no longer listed.", "lost"),
)


def _row(status: DeviceStatus, now: datetime) -> dict[str, object]:
    soonest = min((n for _, _, n in status.expiries), default=None)
    return {
        "imei": status.imei,
        "uuid": status.uuid,
        "firmware": status.firmware,
        "latest_snapshot_id": status.latest_snapshot_id,
        "taken_at": iso(status.taken_at),
        "snapshot_age_seconds": round((now - status.taken_at).total_seconds(), 3) if status.taken_at else None,
        "credentials": status.entries,
        **{k: status.count(k) for k in ("missing", "mismatch", "unverifiable", "lost", "expiring", "expired")},
        "soonest_expiry": iso(soonest),
    }


def export_json(statuses: Sequence[DeviceStatus], now: datetime, manifest: str | None) -> str:
    rows = []
    for status in statuses:
        row = _row(status, now)
        row["problems"] = [p.to_json() for p in status.problems]
        rows.append(row)
    return json.dumps({"generated_at": iso(now), "manifest": manifest, "devices": rows}, indent=2) + "\n"


def export_csv(statuses: Sequence[DeviceStatus], now: datetime) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for status in statuses:
        writer.writerow({k: ("" if v is None else v) for k, v in _row(status, now).items()})
    return out.getvalue()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def export_prometheus(statuses: Sequence[DeviceStatus], now: datetime) -> str:
    """Prometheus text exposition: HELP/TYPE once per metric family, then its samples."""
    lines = [
        "# HELP credwarden_inventory_devices Devices with at least one snapshot in the inventory.",
        "# TYPE credwarden_inventory_devices gauge",
        f"credwarden_inventory_devices {len(statuses)}",
    ]
    for name, help_text, key in _GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for status in statuses:
            value = status.entries if key == "entries" else status.count(key)
            lines.append(f'{name}{{imei="{_label(status.imei)}"}} {value}')
    lines += [
        "# HELP credwarden_snapshot_age_seconds Seconds since the device's latest snapshot was taken.",
        "# TYPE credwarden_snapshot_age_seconds gauge",
    ]
    for status in statuses:
        if status.taken_at is not None:
            age = (now - status.taken_at).total_seconds()
            lines.append(f'credwarden_snapshot_age_seconds{{imei="{_label(status.imei)}"}} {_num(round(age, 3))}')
    lines += [
        "# HELP credwarden_cert_expires_in_seconds Seconds until the certificate's notAfter (negative: expired).",
        "# TYPE credwarden_cert_expires_in_seconds gauge",
    ]
    for status in statuses:
        for tag, code, not_after in status.expiries:
            left = round((not_after - now).total_seconds(), 3)
            lines.append(
                f'credwarden_cert_expires_in_seconds{{imei="{_label(status.imei)}",sec_tag="{tag}",'
                f'type="{type_name(code)}"}} {_num(left)}'
            )
    return "\n".join(lines) + "\n"
