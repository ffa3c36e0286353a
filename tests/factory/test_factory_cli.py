"""CLI: `credwarden station-check` and the batch side of `credwarden apply`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.cli.context import CliContext
from credwarden.cli.factory_cmds import BatchRequest, build_station, is_batch

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
    request = BatchRequest(station_file=tmp_path / "s.toml", device_timeout=9.0, no_record=True)
    station = build_station(CliContext(), request)
    assert station.timeout == 9.0 and station.concurrency == 2 and station.record is False
    assert station.manifest == tmp_path / "m.toml"
    assert station.baud == 115200  # the file's (default) baud: --baud was not given
    (tmp_path / "s.toml").write_text('manifest = "m.toml"\nbaud = 9600\ninventory = "file.db"\n')
    assert build_station(CliContext(), request).baud == 9600
    given = CliContext(baud=57600, db="cli.db", explicit=frozenset({"baud", "db"}))
    station = build_station(given, request)  # the command line (or environment) beats the station file
    assert station.baud == 57600 and station.inventory == "cli.db"


def _imei(n: int) -> str:
    from credwarden.sim.config import luhn_check_digit

    body = f"35265620{n:06d}"
    return body + luhn_check_digit(body)


def test_apply_with_several_ports_runs_a_batch(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from credwarden.creds.ca import LocalCA
    from credwarden.inventory.store import Inventory
    from credwarden.sim import SimConfig, SimModem

    ca = LocalCA.generate(tmp_path / "ca", "CLI test CA")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 7\ntype = "root-ca"\nfile = "root.pem"\n')
    sims = [SimModem(SimConfig(profile="2.0.2", fast=True, imei=_imei(n))) for n in (1, 2)]
    inv = str(tmp_path / "inv.db")
    with sims[0], sims[1], sims[0].serve_pty() as p1, sims[1].serve_pty() as p2:
        args = ["apply", str(manifest), "--port", p1, "--port", p2, "--inventory", inv, "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(r["imei"] for r in rows) == [_imei(1), _imei(2)]
        assert all(r["status"] == "applied" for r in rows)
        assert '"summary"' in result.stderr

        # plain output (not a terminal): one line per stage change, a summary; rerun writes nothing
        result = runner.invoke(app, [*args[:-1], "--no-record"])
        assert result.exit_code == 0, result.output
        assert f"{p1}: done (unchanged)" in result.stdout and "summary: 2 devices: 2 ok" in result.stdout

        result = runner.invoke(app, ["apply", str(manifest), "--port", p1, "--port", p2, "--dry-run"])
        assert result.exit_code == 2 and "--dry-run" in result.stderr
    with Inventory.open(inv) as db:
        assert len(db.devices()) == 2


def test_apply_batch_with_nothing_reachable(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 7\ntype = "psk-identity"\nvalue = "dev-1"\n')
    result = runner.invoke(
        app,
        [
            "apply",
            str(manifest),
            "--port",
            str(tmp_path / "nope1"),
            "--port",
            str(tmp_path / "nope2"),
            "--no-record",
            "--json",
        ],
    )
    assert result.exit_code == 8, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["unreachable", "unreachable"]
    assert all(r["error"] for r in rows) and "Traceback" not in result.output


def test_apply_batch_bad_manifest_is_a_validation_error(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 7\ntype = "bogus"\nfile = "x"\n')
    result = runner.invoke(app, ["apply", str(manifest), "--ports", str(tmp_path / "*"), "--no-record"])
    assert result.exit_code == 5 and "bogus" in result.stderr
