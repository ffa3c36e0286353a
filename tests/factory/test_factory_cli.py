"""CLI: `credwarden station-check` and the batch side of `credwarden apply`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.cli.factory_cmds import build_station, is_batch

runner = CliRunner()


def test_station_check_lists_matching_ports(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "usb-Nordic_1").write_text("")
    (tmp_path / "station.toml").write_text('name = "l1"\nmanifest = "m.toml"\nglob = "dev/*Nordic*"\n')
    result = runner.invoke(app, ["station-check", str(tmp_path / "station.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ports"] == [str(tmp_path / "dev" / "usb-Nordic_1")]
    assert data["station"]["name"] == "l1" and data["concurrency"] == 1


def test_station_check_errors(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("concurrency = 0\n")
    result = runner.invoke(app, ["station-check", str(tmp_path / "s.toml")])
    assert result.exit_code == 5 and "concurrency" in result.stderr and "Traceback" not in result.output
    (tmp_path / "empty.toml").write_text('glob = "/nonexistent/*"\n')
    result = runner.invoke(app, ["station-check", str(tmp_path / "empty.toml")])
    assert result.exit_code == 8


def test_batch_detection_and_option_precedence(tmp_path: Path) -> None:
    assert not is_batch(["/dev/a"], None, None, False)
    assert is_batch(["/dev/a", "/dev/b"], None, None, False)
    assert is_batch(None, ["/dev/x*"], None, False)
    assert is_batch(None, None, tmp_path, False) and is_batch(None, None, None, True)
    (tmp_path / "s.toml").write_text('manifest = "m.toml"\ntimeout = 50\nconcurrency = 2\n')
    station = build_station(manifest=None, station_file=tmp_path / "s.toml", device_timeout=9.0, no_record=True)
    assert station.timeout == 9.0 and station.concurrency == 2 and station.record is False
    assert station.manifest == tmp_path / "m.toml"
