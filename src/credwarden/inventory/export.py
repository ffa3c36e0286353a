"""Export the fleet's latest state: JSON (problems listed), CSV (one row per device) or Prometheus text exposition.

The per-device figures are aggregated by the database (`drift.fleet_counts`); the Prometheus text is produced
by `prometheus_client` (label escaping, number formatting, HELP/TYPE headers) from those rows.

Prometheus metrics (gauges; one sample per device unless noted):
    credwarden_inventory_devices                       devices with at least one snapshot (no labels)
    credwarden_credentials{imei}                       entries in the latest snapshot
    credwarden_credentials_missing{imei}               manifest entries absent           } only devices where
    credwarden_digest_mismatch{imei}                   ... stored with another digest    } the count is not 0
    credwarden_credentials_unverifiable{imei}          ... whose digest proves nothing   } (absent = 0)
    credwarden_credentials_lost{imei}                  entries of the previous snapshot gone in the latest }
    credwarden_snapshot_age_seconds{imei}              now - taken_at of the latest snapshot
    credwarden_cert_expires_in_seconds{imei,sec_tag,type}  per certificate with a known expiry (negative: expired)

That is one series per device and metric: fine for a fleet of hundreds, a heavy scrape for a fleet of
hundred thousands (see the README: aggregate metrics suit large fleets better).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from credwarden.inventory.views import iso
from credwarden.types import type_name

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from credwarden.inventory.drift import DeviceCounts, DeviceStatus, ExpectedSlot

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

#: (metric, help, DeviceCounts field): the per-device gauges.
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("credwarden_credentials", "Credentials listed in the device's latest snapshot.", "entries"),
    ("credwarden_credentials_missing", "Manifest credentials absent from the latest snapshot.", "missing"),
    ("credwarden_digest_mismatch", "Manifest credentials stored with a different digest.", "mismatch"),
    ("credwarden_credentials_unverifiable", "Manifest credentials whose listed digest proves nothing.", "unverifiable"),
    ("credwarden_credentials_lost", "Credentials of the previous snapshot no longer listed.", "lost"),
)
DEVICES_METRIC = ("credwarden_inventory_devices", "Devices with at least one snapshot in the inventory.")
AGE_METRIC = ("credwarden_snapshot_age_seconds", "Seconds since the device's latest snapshot was taken.")
EXPIRY_METRIC = (
    "credwarden_cert_expires_in_seconds",
    "Seconds until the certificate's notAfter (negative: expired).",
)


def export_fleet(
    conn: Connection,
    fmt: str,
    expected: Sequence[ExpectedSlot],
    *,
    manifest: str | None,
    days: int,
    now: datetime,
) -> str:
    """The fleet's latest state in `fmt` (one of FORMATS), read in the caller's transaction."""
    from credwarden.inventory.drift import fleet_counts, fleet_status

    if fmt == "json":
        return export_json(fleet_status(conn, expected, now=now, days=days, with_expiries=True), now, manifest)
    if fmt == "csv":
        return export_csv(fleet_counts(conn, expected, now=now, days=days), now)
    return export_prometheus(fleet_counts(conn, expected, now=now, days=days, with_certificates=True), now)


def _status_row(status: DeviceStatus, now: datetime) -> dict[str, Any]:
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
        row = _status_row(status, now)
        row["problems"] = [p.to_json() for p in status.problems]
        rows.append(row)
    return json.dumps({"generated_at": iso(now), "manifest": manifest, "devices": rows}, indent=2) + "\n"


def export_csv(counts: Sequence[DeviceCounts], now: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in counts:
        writer.writerow(
            [
                c.imei,
                c.uuid or "",
                c.firmware or "",
                c.latest_snapshot_id,
                iso(c.taken_at),
                round((now - c.taken_at).total_seconds(), 3),
                c.entries,
                c.missing,
                c.mismatch,
                c.unverifiable,
                c.lost,
                c.expiring,
                c.expired,
                iso(c.soonest_expiry) or "",
            ]
        )
    return out.getvalue()


def export_prometheus(counts: Sequence[DeviceCounts], now: datetime) -> str:
    """Prometheus text exposition (format 0.0.4) through `prometheus_client`: HELP/TYPE once per family."""
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(counts, now))
    return generate_latest(registry).decode("utf-8")


class _FleetCollector:
    """A prometheus_client collector over rows already read: each family's samples are produced as it is written.

    The problem families (missing, mismatch, unverifiable, lost) carry a sample only for a device whose count is
    not zero: a healthy fleet of 100,000 devices would otherwise export 400,000 zeros. `credwarden_credentials`
    and `credwarden_snapshot_age_seconds` list every device."""

    def __init__(self, counts: Sequence[DeviceCounts], now: datetime) -> None:
        self.counts, self.now = counts, now

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.samples import Sample

        counts, now = self.counts, self.now
        labels = [{"imei": c.imei} for c in counts]  # one dict per device, shared by its samples
        yield GaugeMetricFamily(*DEVICES_METRIC, value=len(counts))
        for name, help_text, field in GAUGES:
            value = attrgetter(field)
            if field == "entries":
                samples = (Sample(name, lab, value(c)) for lab, c in zip(labels, counts, strict=True))
            else:
                samples = (Sample(name, lab, v) for lab, c in zip(labels, counts, strict=True) if (v := value(c)))
            yield _family(name, help_text, samples)
        age = AGE_METRIC[0]
        yield _family(
            *AGE_METRIC,
            (
                Sample(age, lab, round((now - c.taken_at).total_seconds(), 3))
                for lab, c in zip(labels, counts, strict=True)
            ),
        )
        expiry, tags, types = EXPIRY_METRIC[0], _Names(str), _Names(type_name)
        yield _family(
            *EXPIRY_METRIC,
            (
                Sample(
                    expiry,
                    {"imei": c.imei, "sec_tag": tags[tag], "type": types[code]},
                    round((not_after - now).total_seconds(), 3),
                )
                for c in counts
                for tag, code, not_after in c.certificates
            ),
        )


class _Names(dict[int, str]):
    """A label value per code, made once (`str(sec_tag)`, `type_name(type)`)."""

    def __init__(self, make: Callable[[int], str]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: int) -> str:
        value = self[key] = self.make(key)
        return value


def _family(name: str, help_text: str, samples: Iterator[Any]) -> Any:
    """A gauge family whose samples are generated while the exposition is written (no list of 100k samples)."""
    from prometheus_client.metrics_core import Metric

    family = Metric(name, help_text, "gauge")
    family.samples = samples  # type: ignore[assignment]
    return family
