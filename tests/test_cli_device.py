"""CLI device commands against `sim://` state files: output, --json schemas, exit codes, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.field.pki import cert_pem, ec_key
from typer.testing import CliRunner

from credwarden.cli.app import app

CA = cert_pem("credwarden TEST ONLY CA", ec_key(), ca=True)
CA_BODY = CA.decode().splitlines()[1]


@pytest.fixture
def port(tmp_path: Path) -> str:
    return f"sim://{tmp_path / 'state.json'}"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_info_json_schema(port: str) -> None:
    code, out, _ = run("--port", port, "info", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"imei", "model", "firmware", "cfun", "dialect"} <= set(data)
    kept = json.loads(Path(port.removeprefix("sim://")).read_text())["identity"]
    assert data["imei"] == kept["imei"] and data["dialect"] == "at_client"  # the state file's own identity
    assert data["uuid"] is not None and data["uuid"] == kept["device_uuid"]
    assert data["firmware_version"] == "1.3.5"


def test_port_from_environment_and_per_command(port: str) -> None:
    code, out, _ = run("info", "--json", env={"CREDWARDEN_PORT": port})
    assert code == 0 and json.loads(out)["cfun"] == 4
    code, out, _ = run("info", "--port", port, "--json")
    assert code == 0


def test_write_list_read_delete_cycle(port: str, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(CA)
    code, out, _ = run("--port", port, "write", "1001", "root-ca", str(pem), "--json")
    written = json.loads(out)
    assert code == 0 and written["written"] is True and written["status"] == "written"
    imei = json.loads(run("--port", port, "info", "--json")[1])["imei"]
    assert written["device"] == {"port": port, "imei": imei}  # the device it acted on
    code, out, _ = run("--port", port, "write", "1001", "root-ca", str(pem))
    assert code == 0 and "already holds this content" in out and f"IMEI {imei}" in out
    code, out, _ = run("--port", port, "--json", "list")
    entries = json.loads(out)
    assert code == 0
    assert set(entries[0]) == {"sec_tag", "type", "type_name", "sha256", "placeholder_digest"}
    assert {"sec_tag": 1001, "type": 0, "type_name": "root-ca"}.items() <= entries[0].items()
    code, out, _ = run("--port", port, "list", "--tag", "1001")
    assert code == 0 and "1001" in out and "root-ca" in out
    code, out, _ = run("--port", port, "read", "1001", "0")
    assert code == 0 and CA_BODY in out
    code, out, _ = run("--port", port, "read", "1001", "root-ca", "--json")
    assert json.loads(out)["content"] == CA.decode()
    code, _, _ = run("--port", port, "delete", "1001", "0")
    assert code == 0
    code, _, err = run("--port", port, "delete", "1001", "0")
    assert code == 4 and "not found" in err and "Traceback" not in err


def test_exit_codes(port: str, tmp_path: Path) -> None:
    assert run("--port", port, "read", "1", "client-key")[0] == 2
    assert run("--port", port, "read", "1", "no-such-type")[0] == 2
    assert run("--port", "/dev/nonexistent-credwarden", "list")[0] == 3
    assert run("--port", port, "--mode", "telnet", "list")[0] == 2
    quoted = tmp_path / "bad.pem"
    quoted.write_bytes(b'has "quote"')
    code, _, err = run("--port", port, "write", "1", "0", str(quoted))
    assert code == 5 and "nothing was written" in err
    code, _, err = run("--port", port, "write", "1", "0", str(tmp_path / "missing.pem"))
    assert code == 5 and "file not found" in err


def test_debug_wire_log_never_shows_the_key(port: str, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "key.pem"
    path.write_bytes(key)
    body = key.decode().splitlines()[1]
    code, out, err = run("--port", port, "--debug", "write", "7", "client-key", str(path), "--json")
    assert code == 0, err
    assert ">> " in err and "<redacted" in err
    assert body not in err and body not in out


def test_delete_all_and_keygen(port: str, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(CA)
    run("--port", port, "write", "5", "0", str(pem))
    code, out, _ = run("--port", port, "delete-all", "--yes", "--json")
    imei = json.loads(run("--port", port, "info", "--json")[1])["imei"]
    assert code == 0 and json.loads(out) == {
        "device": {"port": port, "imei": imei},
        "entries": [{"sec_tag": 5, "type": 0, "type_name": "root-ca", "deleted": True, "error": None, "code": None}],
    }
    csr = tmp_path / "csr.der"
    code, out, _ = run(
        "--port", port, "keygen", "42", "--attributes", "CN=dev-1", "--out", str(csr), "--format", "der", "--json"
    )
    assert code == 0 and "dev-1" in json.loads(out)["subject"]
    assert csr.read_bytes()[:1] == b"\x30"


def test_raw_at_and_attest(port: str) -> None:
    code, out, _ = run("--port", port, "at", "AT+CGMM", "--json")
    assert code == 0 and json.loads(out)["final"] == "OK"
    code, _, err = run("--port", port, "at", "AT%CMNG=2,999,0")
    assert code == 4 and "513" in err
    code, out, _ = run("--port", port, "attest", "--json")
    assert code == 0 and json.loads(out)["device_uuid"]


def test_cli_errors_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from credwarden.cli.failures import cli_errors
    from credwarden.errors import DeviceTimeout

    with pytest.raises(typer.Exit) as interrupted, cli_errors():
        raise KeyboardInterrupt
    assert interrupted.value.exit_code == 130
    with pytest.raises(typer.Exit) as timed_out, cli_errors():
        raise DeviceTimeout('no answer for AT%CMNG=0,1,2,"-----BEGIN PRIVATE KEY-----SECRET"')
    assert timed_out.value.exit_code == 7
    err = capsys.readouterr().err
    assert "SECRET" not in err and "<redacted" in err


def test_info_on_every_dialect_and_profile(tmp_path: Path) -> None:
    for query, uuid_expected in (
        ("frontend=shell", True),
        ("frontend=slm&profile=2.0.2", True),
        ("profile=1.2.3", False),
    ):
        code, out, err = run("--port", f"sim://{tmp_path / 'x.json'}?{query}", "info", "--json")
        assert code == 0, err
        data = json.loads(out)
        assert (data["uuid"] is not None) == uuid_expected, data


def test_delete_all_with_tags_deletes_only_those(port: str, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(CA)
    for tag in ("5", "6", "7"):
        assert run("--port", port, "write", tag, "root-ca", str(pem))[0] == 0
    code, out, _ = run("--port", port, "delete-all", "--tag", "5", "--tag", "7-7", "--yes", "--json")
    assert code == 0 and [e["sec_tag"] for e in json.loads(out)["entries"]] == [5, 7]
    code, out, _ = run("--port", port, "--json", "list")
    assert [e["sec_tag"] for e in json.loads(out) if e["sec_tag"] < 100] == [6]
    code, _, err = run("--port", port, "delete-all", "--tag", "9-3", "--yes")
    assert code == 2 and "low-high" in err


def test_parse_tags() -> None:
    from credwarden.cli.device_cmds import parse_tags
    from credwarden.errors import UsageError

    assert parse_tags(["42", "100-102", "42"]) == [42, 100, 101, 102]
    for bad in (["x"], ["5-"], ["1-100000"]):
        with pytest.raises(UsageError):
            parse_tags(bad)
