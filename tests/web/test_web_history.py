"""The 90-day history tells a vanished credential from the slot sets themselves, whatever else changed at the same
time (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from credwarden.inventory import Inventory
from credwarden.models import StoredEntry
from credwarden.web.data import Dashboard
from credwarden.web.db import create_readonly_engine, resolve_readonly_url

from .web_fleet import CA, NOW, TAG, _imei, info

LOST_AND_GAINED, ONLY_GAINED = _imei(21), _imei(22)


def _entries(*slots: tuple[int, int]) -> list[StoredEntry]:
    return [StoredEntry(tag, code, CA if (tag, code) == (TAG, 0) else f"{tag:032X}{code:032X}") for tag, code in slots]


def test_a_snapshot_that_loses_one_slot_and_gains_two_is_vanished(empty_db: str) -> None:
    before = _entries((TAG, 0), (TAG, 1), (TAG, 2))
    with Inventory.open(empty_db) as inv:
        for imei in (LOST_AND_GAINED, ONLY_GAINED):
            inv.record_snapshot(info(imei), before, source="apply", taken_at=NOW - timedelta(days=6))
        # three days ago: one lost its key and got two other credentials; the other only got two more
        lost = _entries((TAG, 0), (TAG, 1), (7000, 4), (7001, 4))
        gained = _entries((TAG, 0), (TAG, 1), (TAG, 2), (7000, 4), (7001, 4))
        inv.record_snapshot(info(LOST_AND_GAINED), lost, source="live", taken_at=NOW - timedelta(days=3))
        inv.record_snapshot(info(ONLY_GAINED), gained, source="live", taken_at=NOW - timedelta(days=3))
    engine = create_readonly_engine(resolve_readonly_url(empty_db))
    try:
        dashboard = Dashboard(engine, clock=lambda: NOW)  # no manifest: vanished only by comparison with before
        history = dashboard.history.compute_now().counts
        live = {g.group: g.count for g in dashboard.overview().groups}
    finally:
        engine.dispose()
    assert live["missing"] == 1 and live["ok"] == 1
    assert history["missing"][-5:] == [0, 0, 1, 1, 1]  # from three days ago on, as the live count says
    assert history["ok"][-5:] == [2, 2, 1, 1, 1]
