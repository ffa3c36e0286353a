"""A separate writer process for the concurrency and crash tests (run as a script, not collected by pytest).

python writer_proc.py URL STATION COUNT DEVICES       record COUNT snapshots spread over DEVICES devices
python writer_proc.py URL STATION hang                start a snapshot, stop just before its commit, wait
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from credwarden.inventory import Inventory
from credwarden.models import DeviceInfo, StoredEntry
from credwarden.types import luhn_check_digit


def info(imei: str) -> DeviceInfo:
    return DeviceInfo(
        imei=imei,
        model="nRF9160",
        firmware="mfw_nrf9160_1.3.5",
        firmware_version=(1, 3, 5),
        uuid=None,
        modem_build_uuid=None,
        cfun=4,
        dialect="at_client",
    )


def main() -> int:
    url, station, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    inv = Inventory.open(url)
    entries = [StoredEntry(tag, 0, f"{tag:064X}") for tag in range(1, 7)]
    if mode == "hang":
        from credwarden.inventory import writers

        def stop(self: object, states: object) -> None:
            # the device row, the snapshot and its entries are written, the transaction is open
            print("inside-transaction", flush=True)
            time.sleep(600)

        writers.SqliteWriter.update_devices = stop  # type: ignore[method-assign,assignment]
        writers.PostgresWriter.update_devices = stop  # type: ignore[method-assign,assignment]
        inv.record_snapshot(info("359999999999998"), entries, source="live", station=station)
        return 1
    count, devices = int(mode), int(sys.argv[4])
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        body = f"3500000000{i % devices:04d}"
        imei = body + luhn_check_digit(body)
        when = base + timedelta(seconds=i, microseconds=hash(station) % 1000)
        inv.record_snapshot(info(imei), entries[: 1 + i % 6], source="live", station=station, taken_at=when)
    inv.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
