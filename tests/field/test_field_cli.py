"""The field commands through the CLI: JSON shape, exit codes, clear errors (typer's runner, sim:// ports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credwarden.cli.app import app

from .pki import cert_pem, ec_key

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_explain_json_and_negative_numbers() -> None:
    code, out = _run("explain", "-45", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ambiguous"] and data["interpretations"][0]["name"] == "EOPNOTSUPP"
    code, out = _run("explain", "+CME ERROR: 518")
    assert code == 0 and "CME 518" in out


def test_explain_bad_input_exits_2() -> None:
    result = runner.invoke(app, ["explain", "not-a-code"])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_doctor_exit_codes(tmp_path: Path) -> None:
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2"
    code, out = _run("doctor", "--port", port, "--json")
    data = json.loads(out)
    assert code == 0 and data["exit_code"] == 0  # empty store: a warning, no error
    assert "entries.empty" in {f["code"] for f in data["findings"]}
    (tmp_path / "ca.pem").write_bytes(cert_pem("expired root", ec_key(), ca=True, days_left=-1))
    code, _ = _run("write", "--port", port, "42", "root-ca", str(tmp_path / "ca.pem"))
    if code != 0:
        pytest.skip("this firmware profile refuses an expired certificate")
    code, out = _run("doctor", "--port", port, "--json")
    data = json.loads(out)
    assert code == 1 and data["summary"]["errors"] >= 1
    assert "cert.expired" in {f["code"] for f in data["findings"]}


def test_canary_cli(tmp_path: Path) -> None:
    port = f"sim://{tmp_path / 'state.json'}?profile=1.3.5"
    (tmp_path / "id.txt").write_text("watched")
    assert _run("write", "--port", port, "42", "psk-identity", str(tmp_path / "id.txt"))[0] == 0
    code, out = _run("canary", "--port", port, "--write-tag", "900", "--watch", "42", "--cycles", "3", "--json")
    data = json.loads(out)
    assert code == 0 and data["clean"] and data["cycles_done"] == 3
    result = runner.invoke(app, ["canary", "--port", port, "--write-tag", "42", "--watch", "42", "--cycles", "3"])
    assert result.exit_code == 2 and "also watched" in result.output


def test_campaign_cli(manifest: Path) -> None:
    code, out = _run(
        "sim", "campaign", str(manifest), "--kind", "noise", "--kind", "power-cut", "--points", "3", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["ok"], data
    assert [s["kind"] for s in data["summaries"]] == ["noise", "power-cut"]
    assert all(s["points"] == 3 for s in data["summaries"])
    result = runner.invoke(app, ["sim", "campaign", str(manifest), "--kind", "flood"])
    assert result.exit_code == 2 and "fault kind" in result.output
