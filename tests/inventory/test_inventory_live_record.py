"""`credwarden list` records a live snapshot (the simulator served on a real pty); `--no-record` opts out."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.inventory import Inventory
from credwarden.inventory.live import record_apply_run
from credwarden.models import DeviceInfo
from credwarden.sim import SimModem


def test_list_records_snapshot_unless_opted_out(sim_pty: tuple[SimModem, str]) -> None:
    _, path = sim_pty
    runner = CliRunner()
    result = runner.invoke(app, ["--port", path, "list", "--json"])
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    with Inventory.open() as inv:  # CREDWARDEN_DB: the per-test database (tests/conftest.py)
        [device] = inv.devices()
        latest = inv.latest(device.imei)
        assert latest is not None and latest.source == "live"
        assert [(e.sec_tag, e.type, e.sha256) for e in latest.entries] == sorted(
            (e["sec_tag"], e["type"], e["sha256"]) for e in listed
        )
        assert device.firmware and device.model
    for args in (["list", "--no-record"], ["list", "--tag", "16842753"]):
        result = runner.invoke(app, ["--port", path, *args])
        assert result.exit_code == 0, result.stderr
    with Inventory.open() as inv:
        assert inv.devices()[0].snapshots == 1


def test_inventory_failure_only_warns(sim_pty: tuple[SimModem, str], tmp_path: object) -> None:
    _, path = sim_pty
    result = CliRunner().invoke(app, ["--port", path, "list", "--db", "mysql://nowhere/x"])
    assert result.exit_code == 0
    assert "not recorded in the inventory" in result.stderr


def test_record_apply_run_with_verified_list() -> None:
    info = DeviceInfo(
        imei="352656100000093",
        model="nRF9160",
        firmware="mfw_nrf9160_1.3.5",
        firmware_version=None,
        uuid=None,
        modem_build_uuid=None,
        cfun=4,
        dialect="at_client",
    )
    report = {"ok": True, "actions": [{"sec_tag": 7, "type": 0, "action": "write", "status": "done"}]}
    assert record_apply_run(info, report, [], station="line-2").id is not None
    with Inventory.open() as inv:
        snapshots, runs = inv.history("352656100000093")
        assert [s.source for s in snapshots] == ["apply"] and runs[0].actions[0]["action"] == "write"
    failed = record_apply_run(info, {"actions": []})  # bad report: a warning for the caller, not raised
    assert failed.id is None and "not recorded in the inventory" in failed.warnings[0]
