"""The collector's write path on SQLite and PostgreSQL: snapshots vs heartbeats, replays, confirmations,
alerts exactly once, incomplete lists, manifests, TLS errors, silence, restarts."""

from __future__ import annotations

from datetime import timedelta

from helpers import IMEI, IMEI2, T0, cw1, incoming, sha, sms
from sqlalchemy import text

from credwarden.collect.pipeline import ReportPipeline, Rules
from credwarden.inventory import Inventory

A = (42, 0, sha(1))
B = (42, 2, sha(2))
C = (7, 1, sha(3))


def count(inv: Inventory, sql: str) -> int:
    with inv.read() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_first_report_snapshots_then_heartbeats(inv: Inventory) -> None:
    pipe = ReportPipeline(inv)
    first = pipe.process([incoming(cw1(1, [A, B]), 0)])
    [stored] = first.stored
    assert stored.accepted and stored.created_snapshot and stored.snapshot_id is not None
    second = pipe.process([incoming(cw1(2, [A, B]), 10), incoming(cw1(3, [B, A]), 20)])
    assert [s.created_snapshot for s in second.stored] == [False, False]
    assert {s.snapshot_id for s in second.stored} == {stored.snapshot_id}
    assert count(inv, "SELECT COUNT(*) FROM snapshots") == 1
    assert count(inv, "SELECT COUNT(*) FROM entries") == 2
    assert count(inv, "SELECT COUNT(*) FROM reports") == 3
    latest = inv.latest(IMEI)
    assert latest is not None and latest.source == "report" and latest.firmware == "mfw_nrf91x1_2.0.2"
    with inv.read() as conn:
        row = conn.execute(
            text(
                "SELECT d.last_report_id, r.seq, r.tls_errors, r.list_status, r.transport FROM devices d "
                "JOIN reports r ON r.id = d.last_report_id"
            )
        ).one()
    assert tuple(row[1:]) == (3, None, "complete", "mqtt")
    assert first.fired == [] and second.fired == []


def test_vanished_fires_exactly_once_after_confirmation_then_resolves(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=2))
    pipe.process([incoming(cw1(1, [A, B]), 0)])
    fired = []
    resolved = []
    for seq in range(2, 7):  # B gone from report 2 on
        result = pipe.process([incoming(cw1(seq, [A]), seq)])
        fired += result.fired
        resolved += result.resolved
    assert [(a.kind, a.sec_tag, a.type) for a in fired] == [("vanished", 42, 2)]
    assert fired[0].since == T0 + timedelta(minutes=2) and fired[0].fired_at == T0 + timedelta(minutes=3)
    assert "no longer listed" in (fired[0].detail or "") and sha(2)[:8] in (fired[0].detail or "")
    assert resolved == []
    assert count(inv, "SELECT COUNT(*) FROM snapshots") == 2  # the loss is one new snapshot, then heartbeats
    back = [pipe.process([incoming(cw1(seq, [A, B]), seq)]) for seq in (7, 8)]
    assert back[0].resolved == [] and [a.kind for a in back[1].resolved] == ["vanished"]
    assert count(inv, "SELECT COUNT(*) FROM alerts WHERE resolved_at IS NULL") == 0
    assert count(inv, "SELECT COUNT(*) FROM alerts") == 1


def test_confirmation_count_survives_a_restart(inv: Inventory, db_url: str) -> None:
    ReportPipeline(inv, rules=Rules(confirm=3)).process([incoming(cw1(1, [A, B]), 0)])
    assert ReportPipeline(inv, rules=Rules(confirm=3)).process([incoming(cw1(2, [A]), 1)]).fired == []
    with Inventory.open(db_url) as again:  # a new collector process
        assert ReportPipeline(again, rules=Rules(confirm=3)).process([incoming(cw1(3, [A]), 2)]).fired == []
        fired = ReportPipeline(again, rules=Rules(confirm=3)).process([incoming(cw1(4, [A]), 3)]).fired
    assert [a.kind for a in fired] == ["vanished"]


def test_flapping_slot_never_confirms(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=2))
    pipe.process([incoming(cw1(1, [A, B]), 0)])
    fired = []
    for seq in range(2, 10):
        fired += pipe.process([incoming(cw1(seq, [A, B] if seq % 2 else [A]), seq)]).fired
    assert fired == []


def test_incomplete_list_is_never_a_loss(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=1))
    pipe.process([incoming(cw1(1, [A, B, C]), 0)])
    results = [pipe.process([incoming(cw1(s, [A], final="ERROR -7"), s)]) for s in range(2, 6)]
    results.append(pipe.process([incoming(cw1(6, None), 6)]))  # no list at all
    assert all(r.fired == [] and r.stored[0].accepted for r in results)
    assert count(inv, "SELECT COUNT(*) FROM snapshots") == 1
    with inv.read() as conn:
        statuses = [r[0] for r in conn.execute(text("SELECT list_status FROM reports ORDER BY id"))]
        errors = {r[0] for r in conn.execute(text("SELECT list_error FROM reports WHERE list_status = 'incomplete'"))}
    assert statuses == ["complete", *["incomplete"] * 4, "absent"] and errors == {"-7"}


def test_replays_are_refused_and_reboots_accepted(inv: Inventory) -> None:
    pipe = ReportPipeline(inv)
    ok = pipe.process([incoming(cw1(5, [A], up=500), 0)])
    assert ok.accepted == 1
    again = pipe.process(
        [
            incoming(cw1(5, [A], up=500), 1),  # the same report twice
            incoming(cw1(4, [A], up=600), 2),  # older seq within the same uptime
            incoming(cw1(1, [A], up=30), 3),  # rebooted: seq starts again
            incoming(cw1(2, [A], up=90), 4),
            incoming(cw1(2, [A], up=95), 5),  # replay of seq 2 in the new boot
        ]
    )
    assert [s.rejection.code if s.rejection else "ok" for s in again.stored] == [
        "replayed",
        "replayed",
        "ok",
        "ok",
        "replayed",
    ]
    assert "not newer" in str(again.stored[1].rejection)
    assert count(inv, "SELECT COUNT(*) FROM reports") == 3


def test_two_devices_in_one_batch_and_a_change_in_the_middle(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=1))
    result = pipe.process(
        [
            incoming(cw1(1, [A]), 0),
            incoming(cw1(1, [C], imei=IMEI2), 0),
            incoming(cw1(2, [A, B]), 1),  # a new slot on a known device
            incoming(cw1(3, [A, B]), 2),
        ]
    )
    assert [s.created_snapshot for s in result.stored] == [True, True, True, False]
    assert result.stored[3].snapshot_id == result.stored[2].snapshot_id
    assert [(a.kind, a.sec_tag, a.type, a.resolved_at is not None) for a in result.fired] == [("appeared", 42, 2, True)]
    assert len(inv.devices()) == 2


def test_changed_without_manifest_fires_once_then_becomes_the_reference(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=2))
    pipe.process([incoming(cw1(1, [A]), 0)])
    new_a = (42, 0, sha(99))
    kinds = []
    for seq in range(2, 8):
        result = pipe.process([incoming(cw1(seq, [new_a]), seq)])
        kinds += [a.kind for a in result.fired] + [f"resolved {a.kind}" for a in result.resolved]
    assert kinds == ["changed", "resolved changed"]


def test_tls_error_confirmed_and_correlated_with_the_vanished_key(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=2))
    pipe.process([incoming(cw1(1, [A, B]), 0)])
    fired = []
    for seq in (2, 3, 4):
        fired += pipe.process([incoming(cw1(seq, [A], tls=[(42, -95)]), seq)]).fired
    kinds = {a.kind: a for a in fired}
    assert set(kinds) == {"vanished", "tls-error"}
    tls = kinds["tls-error"]
    assert (tls.sec_tag, tls.type) == (42, None)
    assert (
        "-95" in (tls.detail or "")
        and "EOPNOTSUPP" in (tls.detail or "")
        and "client-key vanished" in (tls.detail or "")
    )
    resolved = []
    for seq in (5, 6):
        resolved += pipe.process([incoming(cw1(seq, [A, B]), seq)]).resolved
    assert sorted(a.kind for a in resolved) == ["tls-error", "vanished"]


def test_silent_devices_alert_once_and_resolve_on_report(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(interval_s=3600, silent_intervals=2))
    pipe.process([incoming(cw1(1, [A]), 0), incoming(cw1(1, [A], imei=IMEI2), 150)])
    assert pipe.check_silence(T0 + timedelta(minutes=100)) == []
    [silent] = pipe.check_silence(T0 + timedelta(minutes=130))
    assert silent.kind == "silent" and silent.imei == IMEI and silent.since == T0
    assert pipe.check_silence(T0 + timedelta(minutes=140)) == []  # once
    resolved = pipe.process([incoming(cw1(2, [A]), 200)]).resolved
    assert [a.kind for a in resolved] == ["silent"]


def test_sms_reports_heartbeat_when_the_hash_proves_the_list(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=1))
    pipe.process([incoming(cw1(1, [A, B]), 0)])
    same = pipe.process([incoming(sms(2, [A, B]), 1, "sms")])
    assert not same.stored[0].created_snapshot and same.fired == []
    changed = pipe.process([incoming(sms(3, [A, (42, 2, sha(77))]), 2, "sms")])
    assert changed.stored[0].created_snapshot and [a.kind for a in changed.fired] == ["changed"]
    latest = inv.latest(IMEI)
    assert latest is not None
    assert {(e.sec_tag, e.type): e.sha256 for e in latest.entries} == {(42, 0): sha(1), (42, 2): None}


def test_an_old_report_delivered_again_is_a_replay_not_a_reboot(inv: Inventory) -> None:
    pipe = ReportPipeline(inv)
    pipe.process([incoming(cw1(seq, [A]), seq) for seq in range(1, 6)])  # up = seq * 60
    again = pipe.process([incoming(cw1(2, [A]), 10), incoming(cw1(6, [A]), 11)])  # seq 2 redelivered, then new
    assert [s.rejection.code if s.rejection else "ok" for s in again.stored] == ["replayed", "ok"]
    rebooted = pipe.process([incoming(cw1(1, [A], up=5), 12), incoming(cw1(1, [A], up=5), 13)])
    assert [s.rejection.code if s.rejection else "ok" for s in rebooted.stored] == ["ok", "replayed"]


def test_a_new_slot_appears_after_the_confirmation_count(inv: Inventory) -> None:
    pipe = ReportPipeline(inv, rules=Rules(confirm=2))
    pipe.process([incoming(cw1(1, [A]), 0)])
    kinds = []
    for seq in (2, 3, 4):
        kinds += [a.kind for a in pipe.process([incoming(cw1(seq, [A, C]), seq)]).fired]
    assert kinds == ["appeared"]
