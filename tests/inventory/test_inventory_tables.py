"""Inventory tables at 80 and 120 columns: identifiers (IMEI, sec_tag) are never cut, long columns give way."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from credwarden.cli.device_cmds import render_entries
from credwarden.cli.inventory_cmds import HistoryResult, render_devices, render_drift, render_history, render_snapshot
from credwarden.inventory import Inventory
from credwarden.inventory.drift import ExpectedSlot
from credwarden.models import DeviceInfo, StoredEntry

IMEI = "352656100123465"
UUID = "50503041-3633-4261-803d-1e2b8f70111a"
INFO = DeviceInfo(
    imei=IMEI,
    model="nRF9160-SICA",
    firmware="mfw_nrf9160_1.3.5",
    firmware_version=(1, 3, 5),
    uuid=UUID,
    modem_build_uuid=None,
    cfun=4,
    dialect="at_client",
)
ENTRIES = [StoredEntry(4294967293, 0, "A" * 64), StoredEntry(16842753, 1, "B" * 64)]


def _render(width: int, render: object, data: object) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    render(data, console)  # type: ignore[operator]
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_tables_keep_identifiers_whole(inv: Inventory, width: int) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    inv.record_snapshot(INFO, ENTRIES, source="live", taken_at=when, expiries={(16842753, 1): when})
    devices = _render(width, render_devices, inv.devices())
    snapshot = inv.latest(IMEI)
    assert snapshot is not None
    shown = _render(width, render_snapshot, snapshot)
    history = _render(width, render_history, HistoryResult(IMEI, *inv.history(IMEI)))
    expected = [ExpectedSlot(4294967293, 0, ((4294967293, 0),), frozenset({"C" * 64}))]  # mismatch
    drift = _render(width, render_drift, inv.drift(expected, days=10**5))  # and the client cert expiring
    listed = _render(width, render_entries, ENTRIES)
    for text in (devices, drift):
        assert IMEI in text
    for text in (shown, drift, listed):
        assert "4294967293" in text and "16842753" in text
    for text in (devices, shown, history, drift, listed):
        assert all(len(line) <= width for line in text.splitlines()[1:]), text  # (show's header line is prose)
        assert "…" not in text
    assert (UUID in devices) is False  # a 36-character UUID only on very wide consoles (always in --json)
    short = "2026-01-02 03:04" if width == 80 else "2026-01-02T03:04:05Z"
    assert short in history and short in shown
