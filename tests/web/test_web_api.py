"""The JSON API over a known inventory, on SQLite and on the real PostgreSQL server (read-only throughout)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from credwarden.inventory import Inventory
from credwarden.inventory.schema import Snapshot
from credwarden.web.app import create_app
from credwarden.web.data import Dashboard
from credwarden.web.db import create_readonly_engine, resolve_readonly_url

from .web_fleet import (
    APPLIED,
    CHANGED,
    COUNTS_BARE,
    COUNTS_MANIFEST,
    EXPECTED,
    EXPIRED,
    EXPIRING,
    NOW,
    PLACEHOLDER,
    TAG,
    UNEXPECTED,
    VANISHED,
    VANISHED_AT,
)


def _client(db: str, *, manifest: bool = True, page_size: int = 50) -> Iterator[tuple[TestClient, Dashboard]]:
    engine = create_readonly_engine(resolve_readonly_url(db))
    dashboard = Dashboard(
        engine,
        expected=EXPECTED if manifest else (),
        manifest="/srv/fleet manifest.toml" if manifest else None,
        page_size=page_size,
        clock=lambda: NOW,
    )
    dashboard.history.compute_now()
    with TestClient(create_app(dashboard)) as client:
        yield client, dashboard
    engine.dispose()


@pytest.fixture
def api(fleet_db: str) -> Iterator[tuple[TestClient, Dashboard]]:
    yield from _client(fleet_db)


def _counts(body: dict) -> dict[str, int]:
    return {g["group"]: g["count"] for g in body["groups"]}


def test_overview_counts_with_manifest(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    body = client.get("/api/fleet").json()
    assert body["total_devices"] == 8
    assert _counts(body) == COUNTS_MANIFEST
    assert body["queue"]["total_devices"] == 6
    assert body["history"] == {"days": 90, "status": "ready"}


def test_overview_counts_without_manifest(fleet_db: str) -> None:
    for client, _ in _client(fleet_db, manifest=False):
        body = client.get("/api/fleet").json()
        assert _counts(body) == COUNTS_BARE
        assert body["manifest"] is None


def test_history_and_change_since_yesterday(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    groups = {g["group"]: g for g in client.get("/api/fleet").json()["groups"]}
    for g in groups.values():
        assert len(g["history"]) == 91  # 90 finished days + today (live)
        assert g["history"][-1] == g["count"]
    # the credential vanished today: yesterday the device was ok
    assert groups["missing"]["history"][-2] == 0
    assert groups["missing"]["change_since_yesterday"] == 1
    # 21 days ago nobody had been provisioned yet; 19 days ago all eight devices were known
    assert sum(g["history"][-22] for g in groups.values()) == 0
    assert sum(g["history"][-20] for g in groups.values()) == 8
    # the expired certificate (expired yesterday) was only expiring the day before
    assert groups["expired"]["history"][-2] == 1 and groups["expired"]["history"][-3] == 0


def test_queue_lists_the_vanished_credential_first(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    items = client.get("/api/fleet").json()["queue"]["items"]
    first = items[0]
    assert first["imei"] == VANISHED
    assert (first["kind"], first["sec_tag"], first["type_name"]) == ("vanished", TAG, "client-key")
    assert first["since"] == VANISHED_AT.isoformat().replace("+00:00", "Z")
    assert first["repair"] == "credwarden apply '/srv/fleet manifest.toml' --port auto"
    kinds = {(i["imei"], i["kind"]) for i in items}
    assert kinds == {
        (VANISHED, "vanished"),
        (EXPIRED, "expired"),
        (CHANGED, "changed"),
        (UNEXPECTED, "unexpected"),
        (EXPIRING, "expiring"),
        (PLACEHOLDER, "unverifiable"),
    }
    unexpected = next(i for i in items if i["kind"] == "unexpected")
    assert (unexpected["sec_tag"], unexpected["type_name"]) == (TAG, "psk") and "--prune" in unexpected["repair"]
    assert not [i for i in items if i["sec_tag"] == 7777]
    changed = next(i for i in items if i["kind"] == "changed")
    assert changed["firmware"] == "mfw_nrf91x1_2.0.3" and changed["station"] == "line-1"


def test_queue_pages(fleet_db: str) -> None:
    for client, _ in _client(fleet_db, page_size=4):
        first = client.get("/api/fleet?page=1").json()["queue"]
        second = client.get("/api/fleet?page=2").json()["queue"]
        assert (first["pages"], first["page"], second["page"]) == (2, 1, 2)
        imeis = [i["imei"] for i in first["items"]] + [i["imei"] for i in second["items"]]
        assert len(set(imeis)) == 6
        assert client.get("/api/fleet?page=0").status_code == 400
        assert client.get("/api/fleet?page=abc").status_code == 400


def test_expiry_weeks_and_breakdowns(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    body = client.get("/api/fleet").json()
    weeks = {w["week"]: w["devices"] for w in body["expiry"]["weeks"]}
    assert len(weeks) == 53
    assert body["expiry"]["expired_devices"] == 1
    assert weeks[1] == 1  # expiring in 10 days
    assert weeks[28] == 5  # the others with a certificate, in 200 days
    firmware = {b["key"]: b for b in body["by_firmware"]}
    assert firmware["mfw_nrf9160_1.2.3"]["groups"] == {"unverifiable": 1}
    assert firmware["mfw_nrf91x1_2.0.3"]["drift"] == 1
    stations = {b["key"]: b for b in body["by_station"]}
    assert stations["line-1"]["total"] == 7 and stations["line-2"]["total"] == 1
    assert body["by_station"][0]["key"] == "line-1"  # most drifted first


def test_device_timeline(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    body = client.get(f"/api/devices/{VANISHED}").json()
    assert body["group"] == "missing"
    slots = {(s["sec_tag"], s["type"]): s for s in body["slots"]}
    assert slots[(TAG, 2)]["state"] == "vanished"
    assert slots[(TAG, 0)]["state"] == "ok" and slots[(TAG, 0)]["expected_sha256"] == ["AB" * 32]
    newest, oldest = body["timeline"]
    assert newest["kind"] == "list" and oldest["kind"] == "apply" and oldest["station"] == "line-1"
    assert [c["change"] for c in newest["changes"]] == ["vanished"]
    assert newest["changes"][0]["sha256_before"] is not None
    assert [c["change"] for c in oldest["changes"]] == ["appeared"] * 3
    assert body["problems"][0]["kind"] == "vanished"


def test_device_apply_run_and_firmware_change(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    applied = client.get(f"/api/devices/{APPLIED}").json()
    runs = [e for e in applied["timeline"] if e["kind"] == "apply-run"]
    assert len(runs) == 1 and runs[0]["detail"]["ok"] is True
    assert runs[0]["detail"]["actions"][0]["status"] == "written"
    changed = client.get(f"/api/devices/{CHANGED}").json()
    newest = changed["timeline"][0]
    assert newest["firmware_changed_from"] == "mfw_nrf91x1_2.0.2" and newest["firmware"] == "mfw_nrf91x1_2.0.3"
    assert newest["changes"][0]["change"] == "changed"


def test_unknown_device_and_pages(api: tuple[TestClient, Dashboard]) -> None:
    client, _ = api
    assert client.get("/api/devices/999").status_code == 404
    assert client.get("/devices/999").status_code == 404
    page = client.get(f"/devices/{VANISHED}")
    assert page.status_code == 200 and "vanished" in page.text and VANISHED in page.text
    overview = client.get("/")
    assert overview.status_code == 200
    assert f'href="/devices/{VANISHED}"' in overview.text
    assert "<script" not in overview.text and "<script" not in page.text
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "/api/fleet" in client.get("/api").json()["endpoints"]


def test_read_only(api: tuple[TestClient, Dashboard], fleet_db: str) -> None:
    client, dashboard = api
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)("/api/fleet")
        assert response.status_code == 405
    with Inventory.open(fleet_db, migrate_schema=False) as inv, inv.read() as conn:
        before = conn.execute(select(func.count(Snapshot.id))).scalar()
    with dashboard.engine.connect() as conn, pytest.raises(Exception, match=r"(?i)read.?only|query_only|readonly"):
        conn.exec_driver_sql("DELETE FROM entries")
    with Inventory.open(fleet_db, migrate_schema=False) as inv, inv.read() as conn:
        assert conn.execute(select(func.count(Snapshot.id))).scalar() == before


def test_overview_is_computed_live(api: tuple[TestClient, Dashboard], fleet_db: str) -> None:
    """A new observation shows on the next request (only finished days are cached)."""
    from .web_fleet import info, store

    client, _ = api
    with Inventory.open(fleet_db) as inv:
        inv.record_snapshot(info(VANISHED), store(VANISHED), source="live", taken_at=NOW - timedelta(minutes=5))
    counts = _counts(client.get("/api/fleet").json())
    assert counts["missing"] == 0 and counts["ok"] == 3


def test_parallel_fleet_pass_equals_single(fleet_db: str) -> None:
    """The fleet pass split over two connections gives the same overview as one statement, on every page."""
    engine = create_readonly_engine(resolve_readonly_url(fleet_db))
    single = Dashboard(engine, expected=EXPECTED, page_size=2, clock=lambda: NOW, workers=1)
    split = Dashboard(engine, expected=EXPECTED, page_size=2, clock=lambda: NOW, workers=2)
    single.history.compute_now()
    split.history.compute_now()
    for page in (1, 2, 3, 4):
        a, b = single.overview(page).to_json(), split.overview(page).to_json()
        a.pop("elapsed_ms"), b.pop("elapsed_ms")
        assert a == b
    single.close()
    split.close()
