"""Schema step 4 (field reports): fresh databases and upgrades from step 3, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from inventory_helpers import entries, make_info
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from credwarden.inventory import Inventory
from credwarden.inventory.migrations import LATEST_VERSION, migrate
from credwarden.inventory.vocabulary import ALERT_KINDS, SOURCES

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ts(conn: object, when: datetime) -> object:
    return when.replace(tzinfo=None).isoformat(" ") if conn.dialect.name == "sqlite" else when  # type: ignore[attr-defined]


def test_step4_tables_and_indexes(inv: Inventory) -> None:
    assert LATEST_VERSION >= 4
    with inv.read() as conn:
        insp = inspect(conn)
        assert {"reports", "alerts", "slot_states"} <= set(insp.get_table_names())
        assert {"last_report_at", "last_report_id"} <= {c["name"] for c in insp.get_columns("devices")}
        assert "ix_reports_device_received" in {i["name"] for i in insp.get_indexes("reports")}
        assert {"ix_alerts_device_id", "ix_alerts_resolved_at"} <= {i["name"] for i in insp.get_indexes("alerts")}
        assert "ix_devices_last_report_at" in {i["name"] for i in insp.get_indexes("devices")}
        assert insp.get_pk_constraint("slot_states")["constrained_columns"] == ["device_id", "sec_tag", "type"]
    assert "report" in SOURCES and "resolved" not in ALERT_KINDS


def test_snapshot_source_report_allowed_and_others_refused(inv: Inventory) -> None:
    snap = inv.record_snapshot(make_info(), entries((1, 0, 1)), source="report", taken_at=T0)
    latest = inv.latest("352656100000010")
    assert latest is not None and latest.id == snap and latest.source == "report"
    with pytest.raises(IntegrityError), inv.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO snapshots (device_id, taken_at, source) VALUES (1, :t, 'bogus')"), {"t": _ts(conn, T0)}
        )


@pytest.mark.parametrize("column,value", [("list_status", "partial"), ("transport", "carrier-pigeon")])
def test_report_enumerations_are_checked(inv: Inventory, column: str, value: str) -> None:
    inv.record_snapshot(make_info(), [], source="live", taken_at=T0)
    row = {"list_status": "complete", "transport": "mqtt", column: value}
    with pytest.raises(IntegrityError), inv.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (device_id, received_at, seq, list_status, transport) "
                "VALUES (1, :t, 1, :list_status, :transport)"
            ),
            {"t": _ts(conn, T0), **row},
        )


def test_upgrade_from_step3_keeps_data_and_foreign_keys(db_url: str) -> None:
    inv = Inventory.open(db_url, migrate_schema=False)
    assert migrate(inv.engine, target=3) == 3
    inv.record_snapshot(make_info(), entries((7, 0, 7)), source="live", taken_at=T0)
    other = Inventory.open(db_url, migrate_schema=False)  # a second station holding a connection across the upgrade
    assert other.schema_version() == 3
    assert migrate(inv.engine) == LATEST_VERSION
    latest = inv.latest("352656100000010")
    assert latest is not None and [(e.sec_tag, e.sha256) for e in latest.entries] == [(7, f"{7:064X}")]
    # the other connection sees the new schema too
    other.record_snapshot(make_info(), entries((7, 0, 8)), source="report", taken_at=T0.replace(day=2))
    with pytest.raises(IntegrityError), inv.engine.begin() as conn:  # foreign keys still enforced
        conn.execute(
            text("INSERT INTO snapshots (device_id, taken_at, source) VALUES (999, :t, 'live')"), {"t": _ts(conn, T0)}
        )
    with inv.read() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    other.close()
    inv.close()
