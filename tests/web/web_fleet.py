"""A small known fleet for the dashboard tests: eight devices, one problem each, times relative to `NOW`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from credwarden.inventory import Inventory
from credwarden.inventory.drift import ExpectedSlot
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.types import luhn_check_digit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TAG = 42
CA = "AB" * 32
OTHER_CA = "CD" * 32
#: the manifest: the root CA by digest, the client certificate and key by presence
EXPECTED = [
    ExpectedSlot(TAG, 0, ((TAG, 0),), frozenset({CA})),
    ExpectedSlot(TAG, 1, ((TAG, 1),), None),
    ExpectedSlot(TAG, 2, ((TAG, 2),), None),
]


def _imei(n: int) -> str:
    body = f"35265610000{n:03d}"
    return body + luhn_check_digit(body)


OK, VANISHED, CHANGED, EXPIRING, EXPIRED, PLACEHOLDER, UNEXPECTED, APPLIED = (_imei(n) for n in range(1, 9))
#: devices per group with the manifest, and without one
COUNTS_MANIFEST = {"ok": 2, "drift": 2, "missing": 1, "expiring": 1, "expired": 1, "silent": 0, "unverifiable": 1}
COUNTS_BARE = {"ok": 4, "drift": 0, "missing": 1, "expiring": 1, "expired": 1, "silent": 0, "unverifiable": 1}
#: when the vanished credential was first seen gone (today: the "since yesterday" change is +1)
VANISHED_AT = NOW - timedelta(hours=2)


def info(imei: str, firmware: str = "mfw_nrf91x1_2.0.2") -> DeviceInfo:
    return DeviceInfo(
        imei=imei,
        model="nRF9151-LACA",
        firmware=firmware,
        firmware_version=None,
        uuid=None,
        modem_build_uuid=None,
        cfun=4,
        dialect="at_client",
    )


def _digest(imei: str, code: int) -> str:
    return f"{int(imei):032X}{code:032X}"


def store(imei: str, ca: str = CA, *, key: bool = True, extra: bool = False) -> list[StoredEntry]:
    entries = [StoredEntry(TAG, 0, ca), StoredEntry(TAG, 1, _digest(imei, 1))]
    if key:
        entries.append(StoredEntry(TAG, 2, _digest(imei, 2)))
    if extra:  # a PSK on the sec_tag the manifest manages, which the manifest does not name
        entries.append(StoredEntry(TAG, 3, _digest(imei, 3)))
        entries.append(StoredEntry(7777, 0, _digest(imei, 7)))  # not the manifest's business
    return entries


def write_fleet(inv: Inventory) -> None:
    """Two observations per device: a factory apply 20 days ago and a field list 2 days ago (or today)."""
    first, second = NOW - timedelta(days=20), NOW - timedelta(days=2)
    far = {(TAG, 1): NOW + timedelta(days=200)}
    for imei in (OK, VANISHED, CHANGED, EXPIRING, EXPIRED, UNEXPECTED, APPLIED):
        inv.record_snapshot(info(imei), store(imei), source="apply", station="line-1", taken_at=first, expiries=far)
    old_fw = info(PLACEHOLDER, "mfw_nrf9160_1.2.3")
    placeholders = [StoredEntry(TAG, code, f"{code:02X}" * 32) for code in (0, 1, 2)]
    inv.record_snapshot(old_fw, placeholders, source="apply", station="line-2", taken_at=first)
    inv.record_snapshot(old_fw, placeholders, source="live", taken_at=second)
    inv.record_snapshot(info(OK), store(OK), source="live", taken_at=second)
    inv.record_snapshot(info(VANISHED), store(VANISHED, key=False), source="live", taken_at=VANISHED_AT)
    inv.record_snapshot(info(CHANGED, "mfw_nrf91x1_2.0.3"), store(CHANGED, OTHER_CA), source="import", taken_at=second)
    inv.record_snapshot(
        info(EXPIRING),
        store(EXPIRING),
        source="live",
        taken_at=second,
        expiries={(TAG, 1): NOW + timedelta(days=10)},
    )
    inv.record_snapshot(
        info(EXPIRED), store(EXPIRED), source="live", taken_at=second, expiries={(TAG, 1): NOW - timedelta(days=1)}
    )
    inv.record_snapshot(info(UNEXPECTED), store(UNEXPECTED, extra=True), source="live", taken_at=second)
    report = {
        "ok": True,
        "started_at": second,
        "finished_at": second + timedelta(seconds=3),
        "actions": [{"sec_tag": TAG, "type": 1, "action": "write", "status": "written", "reason": "missing"}],
    }
    inv.record_apply(info(APPLIED), report, station="line-1")
    inv.record_snapshot(info(APPLIED), store(APPLIED), source="apply", station="line-1", taken_at=second)
