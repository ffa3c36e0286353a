"""Drift (manifest, lost credentials, expiry) and export formats, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

from inventory_helpers import make_info, sha

from credwarden.inventory import Inventory
from credwarden.inventory.drift import ExpectedSlot
from credwarden.models import StoredEntry

NOW = datetime(2026, 6, 1, tzinfo=UTC)
#: the five devices of `_fleet`, A to E
FLEET = ("350000000000014", "350000000000022", "350000000000030", "350000000000048", "350000000000055")
CA = sha(0xCA)
EXPECTED = [
    ExpectedSlot(42, 0, ((42, 0),), frozenset({CA, sha(0xCB)})),  # two acceptable encodings
    ExpectedSlot(42, 1, ((42, 1),), None),  # presence only (per-device file)
]


def _fleet(inv: Inventory) -> None:
    t1, t2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    soon = {(42, 1): NOW + timedelta(days=5)}
    later = {(42, 1): NOW + timedelta(days=300)}
    # A: healthy
    inv.record_snapshot(
        make_info("350000000000014"),
        [StoredEntry(42, 0, CA), StoredEntry(42, 1, sha(1))],
        source="live",
        taken_at=t2,
        expiries=later,
    )
    # B: other encoding of the CA (fine), client cert expiring in 5 days
    inv.record_snapshot(
        make_info("350000000000022"),
        [StoredEntry(42, 0, sha(0xCB)), StoredEntry(42, 1, sha(2))],
        source="live",
        taken_at=t2,
        expiries=soon,
    )
    # C: wrong CA, and lost its client cert since the previous snapshot
    inv.record_snapshot(
        make_info("350000000000030"), [StoredEntry(42, 0, CA), StoredEntry(42, 1, sha(3))], source="live", taken_at=t1
    )
    inv.record_snapshot(make_info("350000000000030"), [StoredEntry(42, 0, sha(0xBAD))], source="live", taken_at=t2)
    # D: placeholder firmware: CA cannot be verified
    inv.record_snapshot(
        make_info("350000000000048"),
        [StoredEntry(42, 0, "00" * 32), StoredEntry(42, 1, "01" * 32)],
        source="live",
        taken_at=t2,
    )
    # E: lost an entry not in the manifest, otherwise fine
    inv.record_snapshot(
        make_info("350000000000055"),
        [StoredEntry(42, 0, CA), StoredEntry(42, 1, sha(5)), StoredEntry(7, 4, sha(7))],
        source="live",
        taken_at=t1,
    )
    inv.record_snapshot(
        make_info("350000000000055"), [StoredEntry(42, 0, CA), StoredEntry(42, 1, sha(5))], source="live", taken_at=t2
    )


def _kinds(report_json: dict[str, object]) -> dict[str, list[tuple[str, int, int]]]:
    devices = report_json["devices"]
    assert isinstance(devices, list)
    return {d["imei"]: [(p["kind"], p["sec_tag"], p["type"]) for p in d["problems"]] for d in devices}


def test_drift_with_manifest(inv: Inventory) -> None:
    _fleet(inv)
    report = inv.drift(EXPECTED, manifest="m.toml", days=30, now=NOW)
    data = report.to_json()
    assert data["devices_checked"] == 5
    assert _kinds(data) == {
        "350000000000022": [("expiring", 42, 1)],
        "350000000000030": [("mismatch", 42, 0), ("missing", 42, 1), ("lost", 42, 1)],
        "350000000000048": [("unverifiable", 42, 0)],
        "350000000000055": [("lost", 7, 4)],
    }
    c = next(d for d in report.drifted if d.imei == "350000000000030")
    assert next(p for p in c.problems if p.kind == "mismatch").sha256 == sha(0xBAD)
    assert data["totals"] == {"missing": 1, "mismatch": 1, "unverifiable": 1, "lost": 2, "expiring": 1, "expired": 0}


def test_drift_without_manifest_and_expired(inv: Inventory) -> None:
    _fleet(inv)
    report = inv.drift(days=1, now=NOW + timedelta(days=6))
    assert _kinds(report.to_json()) == {
        "350000000000022": [("expired", 42, 1)],
        "350000000000030": [("lost", 42, 1)],
        "350000000000055": [("lost", 7, 4)],
    }


def test_empty_inventory_has_no_drift(inv: Inventory) -> None:
    report = inv.drift(EXPECTED, now=NOW)
    assert report.devices_checked == 0 and report.drifted == ()


def test_native_tls_slot_counts_as_present(inv: Inventory) -> None:
    native = [ExpectedSlot(5, 1, ((51, 0), (5, 1)), None)]
    inv.record_snapshot(make_info("350000000000014"), [StoredEntry(51, 0, sha(1))], source="live", taken_at=NOW)
    inv.record_snapshot(make_info("350000000000022"), [StoredEntry(5, 1, sha(1))], source="import", taken_at=NOW)
    inv.record_snapshot(make_info("350000000000030"), [StoredEntry(5, 0, sha(1))], source="live", taken_at=NOW)
    assert list(_kinds(inv.drift(native, now=NOW).to_json())) == ["350000000000030"]


_SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*)\})? -?\d+(\.\d+)?(e[+-]\d+)?$')


def test_export_prometheus_is_valid_exposition(inv: Inventory) -> None:
    _fleet(inv)
    text = inv.export("prometheus", EXPECTED, now=NOW)
    assert text.endswith("\n")
    families: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in families, f"duplicate HELP for {name}"
            families[name] = "help"
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind == "gauge" and families.get(name) == "help"
            families[name] = "type"
        else:
            assert _SAMPLE.match(line), line
            assert families.get(line.split("{")[0].split()[0]) == "type", line
    assert 'credwarden_credentials_missing{imei="350000000000030"} 1.0' in text
    assert 'credwarden_digest_mismatch{imei="350000000000030"} 1.0' in text
    assert 'credwarden_credentials_lost{imei="350000000000055"} 1.0' in text
    assert 'credwarden_snapshot_age_seconds{imei="350000000000014"} 86400.0' in text
    assert 'credwarden_cert_expires_in_seconds{imei="350000000000022",sec_tag="42",type="client-cert"} 432000.0' in text
    assert "credwarden_inventory_devices 5.0" in text


def test_export_json_and_csv(inv: Inventory) -> None:
    _fleet(inv)
    data = json.loads(inv.export("json", EXPECTED, manifest="m.toml", now=NOW))
    assert data["manifest"] == "m.toml" and len(data["devices"]) == 5
    row = next(d for d in data["devices"] if d["imei"] == "350000000000022")
    assert row["expiring"] == 1 and row["soonest_expiry"] == "2026-06-06T00:00:00Z"
    rows = list(csv.DictReader(io.StringIO(inv.export("csv", EXPECTED, now=NOW))))
    assert [r["imei"] for r in rows] == sorted(FLEET)
    assert rows[2]["mismatch"] == "1" and rows[2]["lost"] == "1" and rows[0]["soonest_expiry"] == "2027-03-28T00:00:00Z"


def test_export_figures_agree_with_drift_problems(inv: Inventory) -> None:
    """CSV / Prometheus figures are counted by the database, JSON lists the problems: both say the same."""
    _fleet(inv)
    listed = {d["imei"]: d for d in json.loads(inv.export("json", EXPECTED, now=NOW))["devices"]}
    counted = {r["imei"]: r for r in csv.DictReader(io.StringIO(inv.export("csv", EXPECTED, now=NOW)))}
    assert listed.keys() == counted.keys() == set(FLEET)
    for imei, row in listed.items():
        for kind in ("credentials", "missing", "mismatch", "unverifiable", "lost", "expiring", "expired"):
            assert str(row[kind]) == counted[imei][kind], (imei, kind)


def test_prometheus_problem_families_list_only_devices_with_problems(inv: Inventory) -> None:
    _fleet(inv)
    text = inv.export("prometheus", EXPECTED, now=NOW)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert [s.split()[0] for s in samples if s.startswith("credwarden_credentials_missing")] == [
        'credwarden_credentials_missing{imei="350000000000030"}'
    ]
    assert len([s for s in samples if s.startswith("credwarden_credentials{")]) == 5  # every device
    assert len([s for s in samples if s.startswith("credwarden_snapshot_age_seconds")]) == 5
