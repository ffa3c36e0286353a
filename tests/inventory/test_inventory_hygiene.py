"""Inventory hygiene: IMEIs only (unless asked), forgetting a device, pruning old snapshots, no silent directories,
captures that may be partial imported as partial. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from inventory_helpers import entries, imei, make_info, sha

from credwarden.errors import UsageError, ValidationError
from credwarden.inventory import Inventory, SnapshotRecord, UnknownDevice
from credwarden.inventory.importer import parse_capture
from credwarden.inventory.records import EntryRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("device_id", ["my-board-7", "352656100000011", "35265610000001", "3526561000000101"])
def test_only_imeis_unless_another_scheme_is_accepted(inv: Inventory, device_id: str) -> None:
    with pytest.raises(ValidationError, match="not an IMEI"):
        inv.record_snapshot(make_info(device_id), entries((1, 0, 1)), source="live", taken_at=T0)
    with pytest.raises(ValidationError, match="not an IMEI"):
        inv.record_import(device_id, parse_capture(f'AT%CMNG=1\n%CMNG: 1,0,"{sha(1)}"\nOK\n'))
    with pytest.raises(ValidationError, match="not an IMEI"):
        inv.record_snapshots_bulk([SnapshotRecord(device_id, T0, "import", ())])
    with pytest.raises(ValidationError, match="not an IMEI"):
        inv.record_apply(make_info(device_id), {"ok": True, "actions": []})
    assert inv.devices() == []
    inv.record_snapshot(make_info(device_id), entries((1, 0, 1)), source="live", taken_at=T0, any_id=True)
    assert [d.imei for d in inv.devices()] == [device_id]


def test_any_id_still_refuses_odd_characters(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="not a device id"):
        inv.record_snapshot(make_info("board 7; drop"), [], source="live", any_id=True)


def _device_with_history(inv: Inventory, serial: int, count: int, *, start: datetime = T0) -> str:
    device = imei(serial)
    for n in range(count):
        tags = ((1, 0, serial), (2, 0, serial)) if n < count - 1 else ((1, 0, serial),)  # the last one lost tag 2
        inv.record_snapshot(make_info(device), entries(*tags), source="live", taken_at=start + timedelta(days=n))
    inv.record_apply(make_info(device), {"ok": True, "actions": [{"sec_tag": 1, "type": 0, "action": "write"}] * 0})
    return device


def test_forget_removes_one_device_and_everything_it_owns(inv: Inventory) -> None:
    doomed = _device_with_history(inv, 1, 3)
    kept = _device_with_history(inv, 2, 2)
    preview = inv.forget(doomed[:14], dry_run=True)  # a unique prefix names it
    assert preview.to_json() == {
        "imei": doomed,
        "forgotten": False,
        "snapshots": 3,
        "entries": 5,
        "apply_runs": 1,
        "apply_actions": 0,
        "reports": 0,
        "alerts": 0,
    }
    assert len(inv.devices()) == 2  # a dry run changes nothing
    done = inv.forget(doomed)
    assert done.to_json()["forgotten"] is True and done.snapshots == 3
    assert [d.imei for d in inv.devices()] == [kept]
    with pytest.raises(UnknownDevice):
        inv.forget(doomed)
    assert inv.history(kept)[0][-1].vanished == 1  # the other device is untouched
    inv.record_snapshot(make_info(doomed), entries((9, 0, 9)), source="live", taken_at=T0)  # and can come back
    assert inv.history(doomed)[0][0].entries == 1


def test_forget_refuses_an_ambiguous_reference(inv: Inventory) -> None:
    _device_with_history(inv, 1, 1)
    _device_with_history(inv, 2, 1)
    with pytest.raises(UnknownDevice, match="several devices"):
        inv.forget(imei(1)[:8])
    assert len(inv.devices()) == 2


def test_prune_keeps_latest_two_and_what_drift_needs(inv: Inventory) -> None:
    now = T0 + timedelta(days=100)
    old = _device_with_history(inv, 1, 10)  # snapshots on days 0..9, the last one lost tag 2
    recent = _device_with_history(inv, 2, 3, start=now - timedelta(days=2))
    drift_before = inv.drift(now=now).to_json()["devices"]
    preview = inv.prune(older_than_days=30, dry_run=True, now=now)
    assert (preview.devices, preview.snapshots, preview.entries) == (1, 8, 16)
    assert len(inv.history(old)[0]) == 10  # nothing gone yet
    done = inv.prune(older_than_days=30, now=now)
    assert (done.snapshots, done.entries) == (8, 16) and done.to_json()["pruned"] is True
    snapshots, runs = inv.history(old)
    assert [s.taken_at for s in snapshots] == [T0 + timedelta(days=8), T0 + timedelta(days=9)]
    assert len(runs) == 1  # apply runs are the record of what was done: kept
    assert len(inv.history(recent)[0]) == 3
    assert inv.drift(now=now).to_json()["devices"] == drift_before  # lost credentials still seen
    assert inv.prune(older_than_days=30, now=now).snapshots == 0


def test_prune_keep_last_and_age(inv: Inventory) -> None:
    now = T0 + timedelta(days=100)
    device = _device_with_history(inv, 1, 10)
    assert inv.prune(older_than_days=95, keep_last=3, now=now).snapshots == 5  # days 0..4 are older than 95 days
    assert len(inv.history(device)[0]) == 5
    assert inv.prune(older_than_days=0, keep_last=4, now=now).snapshots == 1
    assert inv.prune(older_than_days=0, keep_last=1, now=now).snapshots == 2  # the latest two always stay
    assert len(inv.history(device)[0]) == 2
    with pytest.raises(UsageError):
        inv.prune(older_than_days=-1)
    with pytest.raises(UsageError):
        inv.prune(older_than_days=1, keep_last=0)


def test_prune_at_scale_uses_one_pass(inv: Inventory) -> None:
    records = [
        SnapshotRecord(imei(d), T0 + timedelta(days=s), "import", (EntryRecord(1, 0, sha(d), False),))
        for s in range(6)
        for d in range(300)
    ]
    inv.record_snapshots_bulk(records, batch_size=500)
    result = inv.prune(older_than_days=1, now=T0 + timedelta(days=30))
    assert (result.devices, result.snapshots, result.entries) == (300, 1200, 1200)
    assert {d.snapshots for d in inv.devices()} == {2}


def test_missing_directory_is_an_error_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "dir" / "inventory.db"
    with pytest.raises(UsageError, match="does not exist"):
        Inventory.open(str(target))
    with pytest.raises(UsageError, match="does not exist"):
        Inventory.open(f"sqlite:///{target}")
    assert not (tmp_path / "typo").exists()
    with Inventory.open(str(target), create_dirs=True) as inv:
        assert inv.devices() == []
    assert target.exists()


def test_missing_directory_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDWARDEN_DB", str(tmp_path / "nope" / "inventory.db"))
    with pytest.raises(UsageError, match="does not exist"):
        Inventory.open()
    monkeypatch.delenv("CREDWARDEN_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the per-user default is created on first use
    with Inventory.open() as inv:
        assert inv.location == str(tmp_path / "xdg" / "credwarden" / "inventory.db")


SMS = f'%CMNG: 16842753,0,"{sha(0xCA)}"\n'


def test_sms_line_is_imported_as_partial(inv: Inventory) -> None:
    device = imei(1)
    full = f'AT%CMNG=1\n%CMNG: 16842753,0,"{sha(1)}"\n%CMNG: 16842753,1,"{sha(2)}"\n%CMNG: 7,0,"{sha(3)}"\nOK\n'
    inv.record_import(device, parse_capture(full), default_time=T0)
    [snap] = inv.record_import(device, parse_capture(SMS), default_time=T0 + timedelta(days=1))
    got = [(e.sec_tag, e.type, e.sha256) for e in inv.snapshot(snap).entries]
    # the SMS spoke for tag 16842753 only: its types listed there replace the old ones, tag 7 carries over
    assert got == [(7, 0, sha(3)), (16842753, 0, sha(0xCA))]
    assert inv.drift(now=T0 + timedelta(days=2)).to_json()["totals"]["lost"] == 1  # 16842753/1 vanished, not tag 7


@pytest.mark.parametrize(
    "capture",
    [
        f'%CMNG: 7,0,"{sha(3)}"\nOK\n',  # no command: who knows what was asked
        f'AT%CMNG=1\n%CMNG: 7,0,"{sha(3)}"\n',  # cut before the OK
        f'AT%CMNG=1\n%CMNG: 7,0,"{sha(3)}"\nERROR\n',  # the list failed
    ],
)
def test_captures_that_may_be_incomplete_are_partial(inv: Inventory, capture: str) -> None:
    device = imei(1)
    inv.record_import(device, parse_capture(f'AT%CMNG=1\n%CMNG: 7,0,"{sha(3)}"\n%CMNG: 8,0,"{sha(4)}"\nOK\n'))
    [snap] = inv.record_import(device, parse_capture(capture), default_time=datetime.now(UTC) + timedelta(hours=1))
    assert [e.sec_tag for e in inv.snapshot(snap).entries] == [7, 8]


def test_complete_capture_and_explicit_choices(inv: Inventory) -> None:
    device = imei(1)
    inv.record_import(device, parse_capture(f'AT%CMNG=1\n%CMNG: 7,0,"{sha(3)}"\n%CMNG: 8,0,"{sha(4)}"\nOK\n'))
    later = datetime.now(UTC) + timedelta(hours=1)
    full = parse_capture(f'AT%CMNG=1\n%CMNG: 7,0,"{sha(3)}"\nOK\n')
    assert full.listings[0].complete
    [snap] = inv.record_import(device, full, default_time=later)
    assert [e.sec_tag for e in inv.snapshot(snap).entries] == [7]  # a complete list: tag 8 is gone
    [snap] = inv.record_import(device, parse_capture(SMS), partial=False, default_time=later + timedelta(hours=1))
    assert [e.sec_tag for e in inv.snapshot(snap).entries] == [16842753]  # asked for: the SMS as the whole store
    full_again = parse_capture(f'AT%CMNG=1\n%CMNG: 9,0,"{sha(5)}"\nOK\n')
    [snap] = inv.record_import(device, full_again, partial=True, default_time=later + timedelta(hours=2))
    assert [e.sec_tag for e in inv.snapshot(snap).entries] == [9, 16842753]
