"""Recording and querying the inventory, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from inventory_helpers import entries, imei, make_info, sha
from sqlalchemy import inspect, text

from credwarden.errors import ValidationError
from credwarden.inventory import Inventory, SnapshotRecord, UnknownDevice, UnknownSnapshot
from credwarden.inventory.migrations import LATEST_VERSION, migrate
from credwarden.inventory.records import EntryRecord
from credwarden.inventory.schema import Base
from credwarden.models import StoredEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_open_creates_latest_schema(inv: Inventory) -> None:
    assert inv.schema_version() == LATEST_VERSION
    # opening again is a no-op (no duplicate migration rows)
    again = Inventory.open(inv.location if "sqlite" not in inv.location else str(inv.url.database))
    assert again.schema_version() == LATEST_VERSION
    with again.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == LATEST_VERSION
    again.close()


def test_migrated_schema_matches_models(inv: Inventory) -> None:
    with inv.read() as conn:
        insp = inspect(conn)
        for table in Base.metadata.sorted_tables:
            db_cols = {c["name"] for c in insp.get_columns(table.name)}
            assert db_cols == {c.name for c in table.columns}, table.name
        assert "ix_snapshots_device_taken" in {i["name"] for i in insp.get_indexes("snapshots")}


def test_no_column_can_hold_content() -> None:
    names = {c.name for t in Base.metadata.sorted_tables for c in t.columns}
    assert not names & {"content", "pem", "password", "passwd", "key", "psk", "data", "command"}


def test_record_and_show_latest(inv: Inventory) -> None:
    info = make_info(uuid_="50363154-3931-44f0-8022-121b6401627d")
    first = inv.record_snapshot(info, entries((1, 0, 1), (1, 1, 2)), source="live", station="s1", taken_at=T0)
    second = inv.record_snapshot(
        info, entries((1, 0, 1), (1, 1, 3), (2, 0, 4)), source="live", station="s2", taken_at=T0 + timedelta(hours=1)
    )
    assert second > first
    latest = inv.latest("352656100000010")
    assert latest is not None and latest.id == second
    assert [(e.sec_tag, e.type, e.sha256) for e in latest.entries] == [(1, 0, sha(1)), (1, 1, sha(3)), (2, 0, sha(4))]
    assert latest.station == "s2" and latest.source == "live" and latest.taken_at == T0 + timedelta(hours=1)
    [device] = inv.devices()
    assert device.snapshots == 2 and device.latest_entries == 3
    assert device.first_seen == T0 and device.last_seen == T0 + timedelta(hours=1)
    # lookup by UUID (any case) and by unique prefix
    assert inv.device_imei("50363154-3931-44F0-8022-121B6401627D") == "352656100000010"
    assert inv.device_imei("3526561") == "352656100000010"
    assert inv.device_imei("5036") == "352656100000010"


def test_older_import_does_not_replace_latest(inv: Inventory) -> None:
    info = make_info()
    new = inv.record_snapshot(info, entries((1, 0, 1)), source="live", taken_at=T0 + timedelta(days=2))
    old = inv.record_snapshot(info, entries((1, 0, 9)), source="import", taken_at=T0)
    latest = inv.latest(info.imei or "")
    assert latest is not None and latest.id == new
    history, _ = inv.history(info.imei or "")
    assert [h.id for h in history] == [old, new]
    assert history[1].changed == 1
    [device] = inv.devices()
    assert device.first_seen == T0


def test_diff_default_last_two_and_by_time(inv: Inventory) -> None:
    info = make_info()
    a = inv.record_snapshot(info, entries((1, 0, 1), (1, 1, 2), (1, 2, 3)), source="live", taken_at=T0)
    b = inv.record_snapshot(
        info, entries((1, 0, 1), (1, 1, 5), (7, 0, 6)), source="live", taken_at=T0 + timedelta(days=1)
    )
    c = inv.record_snapshot(info, entries((1, 0, 1)), source="live", taken_at=T0 + timedelta(days=2))
    d = inv.diff("352656")
    assert (d.from_id, d.to_id) == (b, c)
    assert {(e.sec_tag, e.type) for e in d.vanished} == {(1, 1), (7, 0)}
    d = inv.diff("352656", str(a), str(b))
    assert [(e.sec_tag, e.type) for e in d.appeared] == [(7, 0)]
    assert [(e.sec_tag, e.type) for e in d.vanished] == [(1, 2)]
    assert [(x.sec_tag, x.before, x.after) for x in d.changed] == [(1, sha(2), sha(5))]
    assert d.unchanged == 1
    d = inv.diff("352656", "2026-01-01T12:00:00Z", "2026-01-02T23:00")
    assert (d.from_id, d.to_id) == (a, b)
    with pytest.raises(UnknownSnapshot):
        inv.diff("352656", "2025-01-01T00:00:00Z")
    with pytest.raises(UnknownSnapshot):
        inv.diff("352656", "999999")
    with pytest.raises(ValidationError):
        inv.diff("352656", "yesterday")


def test_unknown_and_ambiguous_device(inv: Inventory) -> None:
    inv.record_snapshot(make_info("352656100000010"), [], source="live", taken_at=T0)
    inv.record_snapshot(make_info("352656100000002"), [], source="live", taken_at=T0)
    with pytest.raises(UnknownDevice, match="several devices"):
        inv.device_imei("3526561000000")
    with pytest.raises(UnknownDevice, match="no device"):
        inv.device_imei("999")
    with pytest.raises(UnknownDevice):
        inv.device_imei("3526%")  # LIKE wildcards are literal


@pytest.mark.parametrize(
    ("kwargs", "items", "message"),
    [
        ({"imei": None}, [], "no IMEI"),
        ({}, [StoredEntry(1, 0, "XYZ")], "64 hex"),
        ({}, [StoredEntry(1, 0, sha(1)), StoredEntry(1, 0, sha(2))], "twice"),
        ({}, [StoredEntry(-1, 0, sha(1))], "outside"),
    ],
)
def test_bad_input_is_rejected(
    inv: Inventory, kwargs: dict[str, object], items: list[StoredEntry], message: str
) -> None:
    info = make_info()
    if "imei" in kwargs:
        info = make_info()
        object.__setattr__(info, "imei", kwargs["imei"])
    with pytest.raises(ValidationError, match=message):
        inv.record_snapshot(info, items, source="live")
    assert inv.devices() == []


def test_naive_time_and_bad_source_rejected(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        inv.record_snapshot(make_info(), [], source="live", taken_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="source"):
        inv.record_snapshot(make_info(), [], source="guess")


def test_placeholder_and_expiry_kept(inv: Inventory) -> None:
    not_after = T0 + timedelta(days=400)
    inv.record_snapshot(
        make_info(),
        [StoredEntry(5, 0, "00" * 32), StoredEntry(5, 1, "01" * 32), StoredEntry(6, 1, None)],
        source="live",
        taken_at=T0,
        expiries={(5, 0): not_after},
    )
    latest = inv.latest("352656100000010")
    assert latest is not None
    by_key = {e.key: e for e in latest.entries}
    assert by_key[(5, 0)].placeholder and by_key[(5, 1)].placeholder and not by_key[(6, 1)].placeholder
    assert by_key[(5, 0)].not_after == not_after and by_key[(6, 1)].sha256 is None


def test_record_apply_scrubs_reasons(inv: Inventory) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
    report = {
        "ok": False,
        "manifest_digest": "ab" * 32,
        "actions": [
            {"sec_tag": 42, "type": 2, "action": "write", "status": "failed", "reason": f"modem said no to {pem}"},
            {"sec_tag": 42, "type": 3, "action": "write", "status": "done", "reason": "psk 0123456789abcdef0123"},
            {"sec_tag": 42, "type": 0, "action": "skip", "status": "done", "reason": None},
        ],
    }
    run_id = inv.record_apply(make_info(), report, "line-1")
    _, runs = inv.history("352656100000010")
    [run] = runs
    assert run.id == run_id and run.ok is False and run.station == "line-1" and run.manifest_digest == "ab" * 32
    reasons = [a["reason"] for a in run.actions]
    assert "BEGIN PRIVATE KEY" not in reasons[0] and "<redacted" in reasons[0]
    assert "0123456789abcdef0123" not in reasons[1]
    assert reasons[2] is None


def test_apply_report_validation(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="ok"):
        inv.record_apply(make_info(), {"actions": []})
    with pytest.raises(ValidationError, match="integer"):
        inv.record_apply(make_info(), {"ok": True, "actions": [{"sec_tag": "x", "type": 0}]})
    with pytest.raises(ValidationError, match="digest"):
        inv.record_apply(make_info(), {"ok": True, "actions": [], "manifest_digest": "nope"})


def test_bulk_matches_single_path(inv: Inventory) -> None:
    records = [
        SnapshotRecord(
            imei=imei(d),
            taken_at=T0 + timedelta(hours=s),
            source="import",
            entries=tuple(EntryRecord(t, 0, sha(d * 100 + s * 10 + t), False) for t in range(3)),
            firmware=f"mfw_{s}",
        )
        for d in range(7)
        for s in range(3)
    ]
    assert inv.record_snapshots_bulk(records, batch_size=4) == 21
    devices = inv.devices()
    assert len(devices) == 7
    assert all(d.snapshots == 3 and d.latest_entries == 3 and d.firmware == "mfw_2" for d in devices)
    history, _ = inv.history(imei(3))
    assert [h.taken_at for h in history] == [T0 + timedelta(hours=s) for s in range(3)]
    with pytest.raises(ValueError):
        inv.record_snapshots_bulk(records, batch_size=0)


def test_failed_write_leaves_nothing(inv: Inventory) -> None:
    good = SnapshotRecord(imei="350000000000014", taken_at=T0, source="live", entries=())
    bad = SnapshotRecord(
        imei="350000000000022",
        taken_at=T0,
        source="live",
        entries=(EntryRecord(1, 0, None, False), EntryRecord(1, 0, None, False)),
    )
    with pytest.raises(Exception, match="inventory database"):
        inv.record_snapshots_bulk([good, bad])
    assert inv.devices() == []


def test_upgrade_from_version_1(db_url: str) -> None:
    inv = Inventory.open(db_url, migrate_schema=False)
    assert migrate(inv.engine, target=1) == 1
    with inv.engine.begin() as conn:
        ts = "2026-01-01 00:00:00.000000" if conn.dialect.name == "sqlite" else "2026-01-01T00:00:00+00:00"
        ts2 = "2026-01-02 00:00:00.000000" if conn.dialect.name == "sqlite" else "2026-01-02T00:00:00+00:00"
        conn.execute(
            text("INSERT INTO devices (id, imei, first_seen, last_seen) VALUES (1, '350000000000014', :t, :u)"),
            {"t": ts, "u": ts2},
        )
        for sid, when in ((1, ts), (2, ts2), (3, ts)):
            conn.execute(
                text("INSERT INTO snapshots (id, device_id, taken_at, source) VALUES (:i, 1, :t, 'live')"),
                {"i": sid, "t": when},
            )
        conn.execute(
            text("INSERT INTO entries (snapshot_id, sec_tag, type, sha256, placeholder) VALUES (2, 7, 0, :s, false)"),
            {"s": sha(7)},
        )
        if conn.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('snapshots', 'id'), 3)"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('devices', 'id'), 1)"))
    assert inv.schema_version() == 1
    assert migrate(inv.engine) == LATEST_VERSION
    latest = inv.latest("350000000000014")
    assert latest is not None and latest.id == 2 and latest.entries[0].sha256 == sha(7)
    # previous = the newest of the others (ties on taken_at: higher id)
    with inv.read() as conn:
        assert conn.execute(text("SELECT previous_snapshot_id FROM devices")).scalar() == 3
    # and the upgraded database keeps working
    inv.record_snapshot(make_info("350000000000014"), [], source="live", taken_at=T0 + timedelta(days=5))
    assert inv.diff("350000000000014").vanished[0].sec_tag == 7
    [drifted] = inv.drift().drifted
    assert [(p.kind, p.sec_tag) for p in drifted.problems] == [("lost", 7)]
    inv.close()


def test_newer_schema_is_refused(db_url: str) -> None:
    inv = Inventory.open(db_url)
    with inv.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO schema_version (version, applied_at, description) VALUES (99, :t, 'x')"),
            {"t": T0 if conn.dialect.name != "sqlite" else "2026-01-01 00:00:00.000000"},
        )
    with pytest.raises(Exception, match="newer than this credwarden"):
        Inventory.open(db_url)
    inv.close()


def test_odd_text_round_trips(inv: Inventory) -> None:
    station = 'line\t3 \\ "north"\nbay'
    inv.record_snapshot(
        make_info(firmware="mfw\\2.0\t"), entries((1, 0, 1)), source="live", station=station, taken_at=T0
    )
    latest = inv.latest("352656100000010")
    assert latest is not None and latest.station == station and latest.firmware == "mfw\\2.0\t"


def test_optimize_refreshes_statistics(inv: Inventory) -> None:
    inv.record_snapshot(make_info(), entries((1, 0, 1)), source="live", taken_at=T0)
    inv.optimize()
    assert inv.latest("352656100000010") is not None


def test_no_secret_reaches_the_database(inv: Inventory) -> None:
    key_body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRET"
    psk = "6e726639317465737431323334353637"
    report = {
        "ok": False,
        "actions": [
            {
                "sec_tag": 9,
                "type": 2,
                "action": "write",
                "status": "failed",
                "reason": f"-----BEGIN EC PRIVATE KEY-----\n{key_body}\n-----END EC PRIVATE KEY-----",
            },
            {"sec_tag": 9, "type": 3, "action": "write", "status": "failed", "reason": f'AT%CMNG=0,9,3,"{psk}"'},
        ],
    }
    inv.record_apply(make_info(), report, "s")
    inv.record_snapshot(make_info(), entries((9, 2, 1), (9, 3, 2)), source="live")
    with inv.read() as conn:
        dumped = []
        for table in Base.metadata.sorted_tables:
            dumped += [repr(tuple(row)) for row in conn.execute(table.select())]
    text_dump = "\n".join(dumped)
    assert "apply_actions" in {t.name for t in Base.metadata.sorted_tables} and "redacted" in text_dump
    for secret in (key_body, "SECRETSECRET", psk):
        assert secret not in text_dump
    if inv.url.get_backend_name() == "sqlite":
        inv.close()
        raw = b"".join(p.read_bytes() for p in Path(str(inv.url.database)).parent.glob("inventory.db*"))
        for secret in (key_body, "SECRETSECRET", psk):
            assert secret.encode() not in raw


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    with Inventory.open(str(tmp_path / "sub" / "inv.db"), create_dirs=True) as inv, inv.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_default_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from credwarden.inventory.location import default_db_path, resolve_location

    monkeypatch.delenv("CREDWARDEN_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "credwarden" / "inventory.db"
    assert resolve_location(None).sqlite_path == tmp_path / "xdg" / "credwarden" / "inventory.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "credwarden" / "inventory.db"
    pg = resolve_location("postgres://u:secret@h/db")
    assert pg.server_url is not None and pg.server_url.startswith("postgresql+psycopg://")
    assert "secret" not in pg.display()


def test_step5_entries_parent_is_not_a_checked_foreign_key(db_url: str) -> None:
    """Upgrading from step 4 keeps every row; entries then have no per-row foreign-key check (ingest speed)."""
    inv = Inventory.open(db_url, migrate_schema=False)
    assert migrate(inv.engine, target=4) == 4
    with inv.read() as conn:
        assert [fk["referred_table"] for fk in inspect(conn).get_foreign_keys("entries")] == ["snapshots"]
    first = inv.record_snapshot(make_info(), entries((1, 0, 1), (2, 0, 2)), source="live", taken_at=T0)
    assert migrate(inv.engine) == LATEST_VERSION == 5
    with inv.read() as conn:
        assert inspect(conn).get_foreign_keys("entries") == []
        assert {fk["referred_table"] for fk in inspect(conn).get_foreign_keys("snapshots")} == {"devices"}
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    latest = inv.latest("352656100000010")
    assert latest is not None and latest.id == first and len(latest.entries) == 2
    inv.record_snapshot(make_info(), entries((1, 0, 1)), source="live", taken_at=T0 + timedelta(days=1))
    assert [(p.kind, p.sec_tag) for p in inv.drift().drifted[0].problems] == [("lost", 2)]
    inv.close()
    with Inventory.open(db_url) as fresh, fresh.read() as conn:  # a new database ends up the same
        assert inspect(conn).get_foreign_keys("entries") == []


def test_forget_and_prune_take_field_reports_along(inv: Inventory) -> None:
    device = "352656100000010"
    old = inv.record_snapshot(make_info(device), entries((1, 0, 1)), source="report", taken_at=T0)
    for day in (1, 2):
        inv.record_snapshot(make_info(device), entries((1, 0, day)), source="live", taken_at=T0 + timedelta(days=day))
    with inv.write() as conn:
        ts = T0 if conn.dialect.name != "sqlite" else "2026-01-01 00:00:00.000000"
        conn.execute(
            text(
                "INSERT INTO reports (id, device_id, received_at, seq, list_status, snapshot_id, transport) "
                "VALUES (1, 1, :t, 1, 'complete', :s, 'mqtt')"
            ),
            {"t": ts, "s": old},
        )
        conn.execute(text("UPDATE devices SET last_report_id = 1"))
        conn.execute(
            text("INSERT INTO alerts (device_id, kind, since, fired_at) VALUES (1, 'vanished', :t, :t)"), {"t": ts}
        )
        conn.execute(
            text("INSERT INTO slot_states (device_id, sec_tag, type, state, since) VALUES (1, 1, 0, 'ok', :t)"),
            {"t": ts},
        )
    assert inv.prune(older_than_days=1, now=T0 + timedelta(days=10)).snapshots == 1  # the reported snapshot
    with inv.read() as conn:
        assert conn.execute(text("SELECT snapshot_id FROM reports")).scalar() is None  # the report stays, unlinked
    result = inv.forget(device)
    assert (result.snapshots, result.reports, result.alerts) == (2, 1, 1)
    with inv.read() as conn:
        for table in ("devices", "snapshots", "entries", "reports", "alerts", "slot_states"):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
