"""A simulated fleet for the dashboard benchmark and the demo: N devices x K observations, with known problems.

Deterministic (device index d decides everything), written through the inventory's own bulk path:

* round 0 is the factory `apply` snapshot (station `station-{d % 8}`), 100 days ago; the other rounds are field
  observations (`live` / `import`) spread over the last 90 days, the last one within the last 10 days;
* firmware: 40 % mfw_nrf9160_1.3.5, 30 % mfw_nrf91x1_2.0.1, 25 % mfw_nrf91x1_2.0.2, 5 % mfw_nrf9160_1.2.3 (placeholder
  digests: unverifiable);
* in the last round: d % 100 == 0 lost its client key (vanished), == 1 lists another root CA (drift: changed),
  == 2 has a certificate expiring in 10 days, == 3 one that expired 5 days ago, == 4 an unexpected PSK on the
  managed sec_tag;
  d % 200 == 5 lost its client key half-way through (round K/2) and never got it back;
* certificate expiry of everybody else spread over the next 13 months (the expiry histogram).

Used by bench/bench_serve.py (`python bench/bench_serve.py --generate PATH` only writes the inventory).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from credwarden.inventory import EntryRecord, Inventory, SnapshotRecord
from credwarden.inventory.drift import ExpectedSlot
from credwarden.types import luhn_check_digit

CLOUD_TAG = 16842753
CA_SHA = "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"
OTHER_CA_SHA = "56AE01E6773BDAEC4BFB216D4005ADB06E4F680BD8BFB8BE4C683CE921681897"
#: What the fleet's manifest requires: the CA by digest; the per-device certificate, key and the three
#: psk-identities (`extra_entries`, default 3) by presence.
EXPECTED = [
    ExpectedSlot(CLOUD_TAG, 0, ((CLOUD_TAG, 0),), frozenset({CA_SHA})),
    ExpectedSlot(CLOUD_TAG, 1, ((CLOUD_TAG, 1),), None),
    ExpectedSlot(CLOUD_TAG, 2, ((CLOUD_TAG, 2),), None),
    *(ExpectedSlot(1000 + x, 4, ((1000 + x, 4),), None) for x in range(3)),
]
FIRMWARES = (
    (40, "mfw_nrf9160_1.3.5"),
    (30, "mfw_nrf91x1_2.0.1"),
    (25, "mfw_nrf91x1_2.0.2"),
    (5, "mfw_nrf9160_1.2.3"),
)


def imei_of(d: int) -> str:
    """Device d's IMEI: 35 + d in 12 digits + the Luhn check digit."""
    body = f"35{d:012d}"
    return body + luhn_check_digit(body)


def firmware_of(d: int) -> str:
    slot = (d * 37) % 100
    for share, name in FIRMWARES:
        if slot < share:
            return name
        slot -= share
    return FIRMWARES[-1][1]


def _placeholder(code: int) -> str:
    return f"{code:02X}" * 32


def observations(devices: int, rounds: int, extra_entries: int, now: datetime) -> Iterator[SnapshotRecord]:
    """Round-major observations (every device once per round), oldest round first."""
    start = now - timedelta(days=90)
    step = timedelta(days=80) / max(rounds - 2, 1)
    for r in range(rounds):
        last = r == rounds - 1
        for d in range(devices):
            jitter = timedelta(seconds=(d * 7919) % 86_400)
            taken = now - timedelta(days=100) + jitter if r == 0 else start + step * (r - 1) + jitter
            if last:
                taken = now - timedelta(days=10) + jitter * 9
            firmware = firmware_of(d)
            old = firmware.endswith("1.2.3")
            ca = OTHER_CA_SHA if last and d % 100 == 1 else CA_SHA
            if last and d % 100 == 2:
                expiry = now + timedelta(days=10)
            elif last and d % 100 == 3:
                expiry = now - timedelta(days=5)
            else:
                expiry = now + timedelta(days=35 + (d * 13) % 365)
            rows = [
                EntryRecord(CLOUD_TAG, 0, _placeholder(0) if old else ca, old),
                EntryRecord(CLOUD_TAG, 1, _placeholder(1) if old else f"{d:032X}{1:032X}", old, expiry),
                EntryRecord(CLOUD_TAG, 2, _placeholder(2) if old else f"{d:032X}{2:032X}", old),
            ]
            for extra in range(extra_entries):
                rows.append(EntryRecord(1000 + extra, 4, f"{d:032X}{extra + 16:032X}", False))
            if last and d % 100 == 4:  # a PSK nobody asked for on the managed sec_tag
                rows.append(EntryRecord(CLOUD_TAG, 3, f"{d:032X}{7777:032X}", False))
            if (last and d % 100 == 0) or (d % 200 == 5 and r >= rounds // 2):
                rows = [e for e in rows if not (e.sec_tag == CLOUD_TAG and e.type == 2)]
            yield SnapshotRecord(
                imei=imei_of(d),
                taken_at=taken,
                source="apply" if r == 0 else ("import" if r % 3 == 0 else "live"),
                entries=tuple(sorted(rows, key=lambda e: (e.sec_tag, e.type))),
                model="nRF9160-SICA" if "9160" in firmware else "nRF9151-LACA",
                firmware=firmware,
                station=f"station-{d % 8}" if r == 0 else None,
                host="bench",
            )


def populate(
    inv: Inventory, devices: int, rounds: int = 10, extra_entries: int = 3, now: datetime | None = None
) -> int:
    """Write the fleet into `inv` (5,000 snapshots per transaction); return the number of snapshots."""
    now = now or datetime.now(UTC)
    stored = 0
    batch: list[SnapshotRecord] = []
    for record in observations(devices, rounds, extra_entries, now):
        batch.append(record)
        if len(batch) >= 5000:
            stored += inv.record_snapshots_bulk(batch, batch_size=len(batch))
            batch = []
    if batch:
        stored += inv.record_snapshots_bulk(batch, batch_size=len(batch))
    inv.optimize()
    return stored
