"""Field reports on the dashboard: silent devices, TLS errors with their explanation, reboots in the timeline,
vanished credentials kept by the collector's alerts (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from credwarden.collect.pipeline import ReportPipeline
from credwarden.inventory import Inventory
from credwarden.inventory.field_reports import IncomingReport
from credwarden.report import build_cw1, firmware_block, list_block, parse_report
from credwarden.web.app import create_app
from credwarden.web.data import Dashboard, explain_tls
from credwarden.web.db import check_schema, create_readonly_engine, resolve_readonly_url

from .web_fleet import EXPECTED, NOW, TAG, write_fleet

REPORTER = "352656100000093"
QUIET = "352656100000101"


def _entries(imei: str, key: bool = True) -> list[tuple[int, int, str | None]]:
    rows: list[tuple[int, int, str | None]] = [(TAG, 0, "AB" * 32), (TAG, 1, f"{int(imei):064X}")]
    if key:
        rows.append((TAG, 2, f"{int(imei) + 1:064X}"))
    return rows


def _report(imei: str, seq: int, up: int, key: bool, minutes_ago: int, tls: tuple[tuple[int, int], ...] = ()):  # type: ignore[no-untyped-def]
    text = build_cw1(
        imei,
        seq,
        up=up,
        app="1.4.0",
        tls=tls,
        blocks=[firmware_block("mfw_nrf91x1_2.0.2"), list_block(_entries(imei, key))],
    )
    return IncomingReport(parse_report(text), "mqtt", NOW - timedelta(minutes=minutes_ago))


def test_reports_on_the_dashboard(empty_db: str) -> None:
    with Inventory.open(empty_db) as inv:
        write_fleet(inv)
        pipeline = ReportPipeline(inv)
        pipeline.process([_report(QUIET, 1, 500, True, 4 * 24 * 60)])
        for seq, (up, key, ago, tls) in enumerate(
            [
                (9000, True, 600, ()),
                (40, False, 300, ((TAG, -45),)),
                (400, False, 120, ((TAG, -45),)),
                (800, False, 60, ()),
            ],
            start=1,
        ):
            pipeline.process([_report(REPORTER, seq, up, key, ago, tls)])
    url = resolve_readonly_url(empty_db)
    engine = create_readonly_engine(url)
    assert check_schema(engine, url)[1] is True
    dashboard = Dashboard(engine, expected=EXPECTED, has_reports=True, clock=lambda: NOW)
    dashboard.history.compute_now()
    client = TestClient(create_app(dashboard))
    body = client.get("/api/fleet").json()
    counts = {g["group"]: g["count"] for g in body["groups"]}
    assert counts["silent"] == 1 and counts["missing"] == 2 and body["total_devices"] == 10
    # QUIET reported 4 days ago and is silent 72 h later (yesterday): silent yesterday and today, ok before
    groups = {g["group"]: g for g in body["groups"]}
    assert groups["silent"]["history"][-4:] == [0, 0, 1, 1]
    assert groups["silent"]["change_since_yesterday"] == 0
    # the silent days come off the ok / unverifiable counts of a history that ignores reports, nothing else moves
    with_silence = dashboard.history.compute_now().counts
    without = Dashboard(engine, expected=EXPECTED, has_reports=False, clock=lambda: NOW).history.compute_now().counts
    calm = ("ok", "unverifiable")
    assert [sum(without[g][d] - with_silence[g][d] for g in calm) for d in range(90)] == with_silence["silent"]
    assert all(without[g] == with_silence[g] for g in with_silence if g not in (*calm, "silent"))
    items = body["queue"]["items"]
    mine = [i for i in items if i["imei"] == REPORTER]
    assert mine and mine[0]["kind"] == "vanished" and (mine[0]["sec_tag"], mine[0]["type"]) == (TAG, 2)
    assert mine[0]["tls_error"] == f"{TAG}:-45"
    assert mine[0]["tls_error_explained"] and "-45" in mine[0]["tls_error_explained"]
    quiet = [i for i in items if i["imei"] == QUIET]
    assert [i["kind"] for i in quiet] == ["silent"]
    assert quiet[0]["repair"] == f"credwarden inventory history {QUIET}"
    device = client.get(f"/api/devices/{REPORTER}").json()
    reports = [e for e in device["timeline"] if e["kind"] == "report"]
    assert len(reports) == 4
    by_seq = {e["detail"]["seq"]: e for e in reports}
    assert by_seq[2]["reboot"] is True and by_seq[3]["reboot"] is False
    assert [c["change"] for c in by_seq[2]["changes"]] == ["vanished"]
    assert by_seq[2]["detail"]["tls_errors"] == f"{TAG}:-45"
    assert by_seq[3]["detail"]["new_snapshot"] is False  # an unchanged list is a heartbeat
    assert not [e for e in device["timeline"] if e["source"] == "report" and e["kind"] != "report"]
    page = client.get(f"/devices/{REPORTER}")
    assert "reboot" in page.text and f"{TAG}:-45" in page.text
    assert "last TLS error" in page.text and mine[0]["tls_error_explained"].split(" ")[0] in page.text
    engine.dispose()


def test_explain_tls() -> None:
    first, text = explain_tls("42:-111,43:-45")
    assert first == "42:-111" and text is not None and "ECONNREFUSED" in text
    assert explain_tls(None) == (None, None)
    assert explain_tls("42:nonsense") == ("42:nonsense", None)
