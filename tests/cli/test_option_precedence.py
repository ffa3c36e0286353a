"""Global options: a value on the command line, before or after the command, beats the environment variable.

Two simulated boards on real ptys: the environment names board A, the command line board B; only B may change.
Same for `--db` vs CREDWARDEN_DB and `--mode` vs CREDWARDEN_MODE; `--json` works wherever it is written.
Each test tries both placements (`credwarden --opt X cmd ...` and `credwarden cmd ... --opt X`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import Board, cli_process, run_cli

from credwarden.sim.store import make_entry

PSK_IDENTITY = (999, 4)
PLACEMENTS = ("before", "after")


def _placed(placement: str, option: list[str], command: list[str]) -> list[str]:
    return [*option, *command] if placement == "before" else [*command, *option]


def _identity_file(tmp_path: Path) -> Path:
    path = tmp_path / "identity.txt"
    path.write_text("board-b-identity")
    return path


def _seed(board: Board, *sec_tags: int) -> None:
    """Put user entries into the board's store directly (no CLI involved)."""
    for sec_tag in sec_tags:
        board.sim.store.put(make_entry(sec_tag, 4, f"seed-{sec_tag}".encode()), count=False)


def _devices(db: Path) -> list[str]:
    """IMEIs recorded in the inventory file `db` (read through the library, not the CLI under test)."""
    if not db.exists():
        return []
    from credwarden.inventory.store import Inventory

    inventory = Inventory.open(str(db))
    try:
        return [d.imei for d in inventory.devices()]
    finally:
        inventory.close()


def test_the_issue_reproduction_writes_to_the_port_given_on_the_command_line(
    make_board: BoardFactory, tmp_path: Path
) -> None:
    a, b = make_board(), make_board()
    result = cli_process(
        "-p", b.port, "write", "999", "psk-identity", str(_identity_file(tmp_path)), env={"CREDWARDEN_PORT": a.port}
    )
    assert result.returncode == 0, result.stderr
    assert PSK_IDENTITY in b.user_entries()
    assert a.user_entries() == set() and a.kinds() == []  # board A was never even opened
    assert f"IMEI {b.imei} on {b.port}" in result.stdout  # the output names the board it changed


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_write_goes_to_the_command_line_port_and_names_it(
    make_board: BoardFactory, tmp_path: Path, placement: str
) -> None:
    a, b = make_board(), make_board()
    command = ["write", "999", "psk-identity", str(_identity_file(tmp_path)), "--json"]
    result = run_cli(*_placed(placement, ["-p", b.port], command), env={"CREDWARDEN_PORT": a.port})
    assert result.exit_code == 0, result.stderr
    assert PSK_IDENTITY in b.user_entries() and a.user_entries() == set()
    assert json.loads(result.stdout)["device"] == {"port": b.port, "imei": b.imei}
    # without the option the environment still beats the default
    result = run_cli(*command, env={"CREDWARDEN_PORT": a.port})
    assert result.exit_code == 0 and PSK_IDENTITY in a.user_entries()


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_delete_all_empties_the_command_line_port_only(make_board: BoardFactory, placement: str) -> None:
    a, b = make_board(), make_board()
    _seed(a, 5, 6)
    _seed(b, 5, 6)
    result = run_cli(*_placed(placement, ["--port", b.port], ["delete-all", "--yes"]), env={"CREDWARDEN_PORT": a.port})
    assert result.exit_code == 0, result.stderr
    assert b.user_entries() == set()
    assert a.user_entries() == {(5, 4), (6, 4)} and a.kinds() == []
    assert f"IMEI {b.imei} on {b.port}" in result.stdout


def test_delete_all_issue_reproduction_in_a_real_process(make_board: BoardFactory) -> None:
    a, b = make_board(), make_board()
    _seed(a, 5)
    _seed(b, 5)
    result = cli_process("--port", b.port, "delete-all", "--yes", env={"CREDWARDEN_PORT": a.port})
    assert result.returncode == 0, result.stderr
    assert b.user_entries() == set() and a.user_entries() == {(5, 4)}


def test_db_option_beats_credwarden_db(make_board: BoardFactory, tmp_path: Path) -> None:
    board = make_board()
    env_db = tmp_path / "from-env.db"
    for placement in PLACEMENTS:
        option_db = tmp_path / f"option-{placement}.db"
        args = _placed(placement, ["--db", str(option_db)], ["list", "--port", board.port])
        result = run_cli(*args, env={"CREDWARDEN_DB": str(env_db)})
        assert result.exit_code == 0, f"{placement}: {result.stderr}"
        assert _devices(option_db) == [board.imei], placement
    assert _devices(env_db) == []
    # without the option the environment still beats the default
    assert run_cli("list", "--port", board.port, env={"CREDWARDEN_DB": str(env_db)}).exit_code == 0
    assert _devices(env_db) == [board.imei]


@pytest.mark.parametrize(("frontend", "wrong"), [("at_client", "slm"), ("shell", "at_client"), ("slm", "shell")])
def test_mode_option_beats_credwarden_mode(make_board: BoardFactory, frontend: str, wrong: str) -> None:
    board = make_board(frontend=frontend)
    for placement in PLACEMENTS:
        args = _placed(placement, ["--mode", frontend], ["info", "--json", "--port", board.port])
        result = run_cli(*args, env={"CREDWARDEN_MODE": wrong})
        assert result.exit_code == 0, f"{placement}: {result.stderr}"
        assert json.loads(result.stdout)["dialect"] == frontend
    result = run_cli("--port", board.port, "info", "--json", env={"CREDWARDEN_MODE": frontend})
    assert result.exit_code == 0 and json.loads(result.stdout)["dialect"] == frontend


#: Commands with JSON output, plain and nested (`{imei}`: the board's).
JSON_COMMANDS = (
    ["list"],
    ["info"],
    ["inventory", "devices"],
    ["inventory", "history", "{imei}"],
    ["inventory", "show", "{imei}"],
)


def test_json_anywhere_on_the_command_line(make_board: BoardFactory) -> None:
    board = make_board()
    assert run_cli("--port", board.port, "list").exit_code == 0  # one snapshot in the inventory
    for command in JSON_COMMANDS:
        words = [word.replace("{imei}", board.imei) for word in command]
        for args in ([*words[:i], "--json", *words[i:]] for i in range(len(words) + 1)):
            result = run_cli("--port", board.port, *args)
            assert result.exit_code == 0, f"{args}: {result.stderr}"
            json.loads(result.stdout)  # exactly one JSON document


def test_json_anywhere_in_a_real_process(make_board: BoardFactory) -> None:
    board = make_board()
    assert cli_process("--port", board.port, "list").returncode == 0
    for args in (
        ["inventory", "devices", "--json"],
        ["inventory", "--json", "devices"],
        ["--json", "inventory", "devices"],
    ):
        result = cli_process(*args)
        assert result.returncode == 0, result.stderr
        assert [row["imei"] for row in json.loads(result.stdout)] == [board.imei]
