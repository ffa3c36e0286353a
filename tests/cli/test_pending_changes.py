"""Dry runs and plans tell the truth: with changes pending, `plan` and `apply --dry-run` say so (human and JSON),
report `in_sync`/`ok` false and exit 9 ("changes pending", distinct from failure); in sync they exit 0.
Against a simulated board on a real pty; a dry run never changes the board.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from provision_pki import Pki, manifest_text
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import Board, cli_process, run_cli

from credwarden.errors import ExitCode

PENDING = 9  #: "changes pending" (ExitCode.CHANGES_PENDING)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    Pki().write(tmp_path)
    path = tmp_path / "manifest.toml"
    path.write_text(
        manifest_text() + '\n[[credential]]\nsec_tag = 43\ntype = "psk"\nvalue = "6e7266393174657374"\n'
        '\n[[credential]]\nsec_tag = 43\ntype = "psk-identity"\nvalue = "nrf91test"\n'
    )
    return path


@pytest.fixture
def board(make_board: BoardFactory) -> Board:
    return make_board(profile="2.0.2", boot_cfun=1)


def test_exit_9_is_documented_and_distinct() -> None:
    codes = {int(code) for code in ExitCode}
    assert int(ExitCode["CHANGES_PENDING"]) == PENDING and len(codes) == len(ExitCode)
    assert "9 changes pending" in run_cli("--help").stdout


def test_plan_with_pending_changes(board: Board, manifest: Path) -> None:
    result = run_cli("--port", board.port, "plan", str(manifest))
    assert result.exit_code == PENDING, result.stderr
    assert "5 changes to make" in result.stdout and "already matches" not in result.stdout
    result = run_cli("--port", board.port, "plan", str(manifest), "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == PENDING and data["in_sync"] is False and data["counts"]["write"] == 5
    assert board.changes() == []


def test_dry_run_with_pending_changes_human(board: Board, manifest: Path) -> None:
    result = cli_process("--port", board.port, "apply", str(manifest), "--dry-run")
    assert result.returncode == PENDING, result.stderr
    assert "changes pending" in result.stdout
    assert "ok:" not in result.stdout and "matches the manifest" not in result.stdout
    assert "dry run" in result.stdout and f"IMEI {board.imei}" in result.stdout
    assert board.changes() == [] and board.user_entries() == set()


def test_dry_run_with_pending_changes_json(board: Board, manifest: Path) -> None:
    result = run_cli("--port", board.port, "apply", str(manifest), "--dry-run", "--json")
    assert result.exit_code == PENDING, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["dry_run"] is True
    assert [a["status"] for a in data["actions"]] == ["planned"] * 5
    assert data["nvm_operations"] == 0
    assert board.changes() == [] and board.cfun == 1


def test_in_sync_is_exit_0_and_one_missing_entry_is_pending(board: Board, manifest: Path) -> None:
    assert run_cli("--port", board.port, "apply", str(manifest)).exit_code == 0
    plan = run_cli("--port", board.port, "plan", str(manifest), "--json")
    assert plan.exit_code == 0 and json.loads(plan.stdout)["in_sync"] is True
    human = run_cli("--port", board.port, "plan", str(manifest))
    assert human.exit_code == 0 and "already matches the manifest" in human.stdout
    dry = run_cli("--port", board.port, "apply", str(manifest), "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["ok"] is True
    human = run_cli("--port", board.port, "apply", str(manifest), "--dry-run")
    assert human.exit_code == 0 and "ok:" in human.stdout
    # then one entry is missing: pending again
    board.sim.store.remove(43, 4, count=False)  # one entry vanished
    result = run_cli("--port", board.port, "apply", str(manifest), "--dry-run", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == PENDING and data["ok"] is False
    assert [(a["sec_tag"], a["type"], a["status"]) for a in data["actions"] if a["status"] != "unchanged"] == [
        (43, 4, "planned")
    ]
