"""The provisioning CLI end to end against an in-process simulator (`sim://STATE`), JSON and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from provision_pki import Pki, manifest_text
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_example_manifest_is_valid() -> None:
    code, out = invoke("manifest", "check", str(EXAMPLES / "manifest.toml"), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["ok"] and [c["type"] for c in data["credentials"]] == [
        "root-ca",
        "client-cert",
        "client-key",
        "psk",
        "psk-identity",
    ]


def test_schema_is_json_schema() -> None:
    code, out = invoke("manifest", "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "credwarden provisioning manifest"
    assert {"credential", "nrfcloud", "unverifiable"} <= set(schema["properties"])


def test_apply_then_reapply_via_cli(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2&frontend=at_client"
    manifest = str(tmp_path / "ex" / "manifest.toml")
    code, out = invoke("plan", manifest, "--port", port, "--json")
    assert code == int(ExitCode.CHANGES_PENDING) and json.loads(out)["counts"]["write"] == 5
    code, out = invoke("apply", manifest, "--port", port, "--json")
    first = json.loads(out)
    assert code == 0 and first["ok"] and [a["status"] for a in first["actions"]] == ["written"] * 5
    assert set(first["actions"][0]) == {"sec_tag", "type", "type_name", "action", "status", "reason"}
    assert isinstance(first["actions"][0]["type"], int) and first["warnings"] == []
    code, out = invoke("apply", manifest, "--port", port, "--json")
    second = json.loads(out)
    assert code == 0 and second["nvm_operations"] == 0 and second["commands"] <= 5
    assert {a["reason"] for a in second["actions"]} == {"identical"}


def test_validation_failure_is_exit_5_with_json_problems(tmp_path: Path) -> None:
    pki = Pki()
    pki.write(tmp_path)
    (tmp_path / "client.key").write_bytes(pki.ca_pem)
    (tmp_path / "m.toml").write_text(manifest_text())
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2"
    code, out = invoke("apply", str(tmp_path / "m.toml"), "--port", port, "--json")
    assert code == 5
    problems = json.loads(out)["problems"]
    assert "holds a certificate, not a private key" in problems[0]["reason"]
    assert "credential[2]" in problems[0]["source"]
    code, _ = invoke("manifest", "check", str(tmp_path / "m.toml"))
    assert code == 5
    state = tmp_path / "state.json"
    assert not state.exists() or json.loads(state.read_text())["nvm_writes"] == 0


def test_single_board_keygen_apply_json_and_plan_rows(tmp_path: Path) -> None:
    """One board + [[keygen]]: the single-apply JSON object (not batch lines), exit codes, and plan keygen rows."""
    from cryptography.hazmat.primitives import serialization

    from credwarden.creds.ca import LocalCA

    ca = LocalCA.generate(tmp_path / "ca", "credwarden TEST ONLY keygen CA")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[credential]]\nsec_tag = 10\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\n'
        'subject = "CN=nrf-{imei}"\n'
    )
    port = f"sim://{tmp_path / 'state.json'}?profile=2.0.2&frontend=at_client"
    code, out = invoke("plan", str(manifest), "--port", port, "--json")
    shown = json.loads(out)
    assert code == int(ExitCode.CHANGES_PENDING) and not shown["in_sync"]
    assert shown["keygen"] == [
        {"sec_tag": 42, "decision": "generate", "reason": "keygen: no key on this sec_tag -> generate"}
    ]
    code, out = invoke("apply", str(manifest), "--port", port, "--json", "--no-record")
    first = json.loads(out)  # one JSON document, not JSON lines
    assert code == 0 and first["ok"] and first["device"]["imei"], out
    assert [(a["sec_tag"], a["action"], a["status"]) for a in first["actions"]] == [
        (10, "write", "written"),
        (42, "keygen", "generated"),
        (42, "write", "written"),
    ]
    base = {"sec_tag", "type", "type_name", "action", "status", "reason"}
    assert all(base <= set(a) <= base | {"sha256", "serial", "file"} for a in first["actions"])
    assert set(first["actions"][2]) == base | {"sha256", "serial", "file"}  # the issued certificate, where it is kept
    code, out = invoke("plan", str(manifest), "--port", port, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["in_sync"] and shown["keygen"][0]["decision"] == "skip"
    assert "cert matches" in shown["keygen"][0]["reason"]
    code, out = invoke("apply", str(manifest), "--port", port, "--json", "--no-record")
    second = json.loads(out)
    assert code == 0 and second["ok"] and second["nvm_operations"] == 0
    assert {a["status"] for a in second["actions"]} == {"unchanged"}
    (tmp_path / "ca" / "ca-key.pem").write_text("not a key")
    code, out = invoke("apply", str(manifest), "--port", port, "--json", "--no-record")
    assert code == int(ExitCode.VALIDATION) or code == int(ExitCode.USAGE), out
