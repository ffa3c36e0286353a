"""`credwarden inventory ...` end to end through the typer app: --json schemas, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.errors import ExitCode

A, B = "A" * 64, "B" * 64
runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "term.log"
    path.write_bytes(
        (
            "2026-03-01T10:00:00Z DEBUG modem >> AT%CMNG=1\r\n"
            f'2026-03-01T10:00:00Z DEBUG modem << %CMNG: 42,0,"{A}"\r\n'
            f'2026-03-01T10:00:00Z DEBUG modem << %CMNG: 42,1,"{B}"\r\n'
            "2026-03-01T10:00:00Z DEBUG modem << OK\r\n"
            "2026-03-02T10:00:00Z DEBUG modem >> AT%CMNG=1\r\n"
            f'2026-03-02T10:00:00Z DEBUG modem << %CMNG: 42,0,"{A}"\r\n'
            "2026-03-02T10:00:00Z DEBUG modem << %CMNG: 42,1\x01garbled\r\n"
            "2026-03-02T10:00:00Z DEBUG modem << OK\r\n"
        ).encode()
    )
    return path


def test_import_then_query_everything(db_url: str, capture: Path) -> None:
    code, out, err = _run(
        "inventory", "import", "--db", db_url, "--device", "352656100000010", str(capture), "--station", "lab", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert len(data["snapshot_ids"]) == 2 and data["unreadable"] == [{"line": 7, "text": "%CMNG: 42,1\x01garbled"}]
    assert [x["taken_at"] for x in data["listings"]] == ["2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"]

    code, out, _ = _run("inventory", "devices", "--db", db_url, "--json")
    [device] = json.loads(out)
    assert code == 0 and device["imei"] == "352656100000010" and device["snapshots"] == 2

    code, out, _ = _run("--json", "inventory", "show", "--db", db_url, "35265")  # global --json works too
    shown = json.loads(out)
    assert code == 0 and [e["sec_tag"] for e in shown["entries"]] == [42] and shown["station"] == "lab"

    code, out, _ = _run("inventory", "history", "--db", db_url, "352656100000010", "--json")
    hist = json.loads(out)
    assert [s["vanished"] for s in hist["snapshots"]] == [0, 1] and hist["apply_runs"] == []

    code, out, _ = _run("inventory", "diff", "--db", db_url, "352656100000010", "--json")
    diff = json.loads(out)
    assert [(e["sec_tag"], e["type"]) for e in diff["vanished"]] == [(42, 1)]

    code, out, _ = _run("inventory", "drift", "--db", db_url, "--json")
    assert code == ExitCode.VERIFICATION and json.loads(out)["totals"]["lost"] == 1

    code, out, _ = _run("inventory", "export", "--db", db_url, "--format", "prometheus")
    assert code == 0 and 'credwarden_credentials_lost{imei="352656100000010"} 1.0' in out

    for args in (
        ["devices"],
        ["show", "352656100000010"],
        ["history", "352656100000010"],
        ["diff", "352656100000010"],
        ["drift"],
    ):
        code, out, _ = _run("inventory", *args, "--db", db_url)
        assert code in (0, ExitCode.VERIFICATION) and out.strip()


def test_export_to_file_and_csv(db_url: str, capture: Path, tmp_path: Path) -> None:
    _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(capture))
    target = tmp_path / "metrics" / "credwarden.prom"
    code, _, err = _run("inventory", "export", "--db", db_url, "-f", "prometheus", "-o", str(target))
    assert code == 0, err
    assert target.read_text().startswith("# HELP credwarden_inventory_devices")
    code, out, _ = _run("inventory", "export", "--db", db_url, "-f", "csv")
    assert out.splitlines()[0].startswith("imei,uuid,firmware")


def test_bad_input_gives_exit_codes_not_tracebacks(db_url: str, capture: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("hello\nworld\n")
    cases = [
        (["import", "--db", db_url, "--device", "352656100000010", str(empty)], ExitCode.VALIDATION, "no %CMNG"),
        (
            ["import", "--db", db_url, "--device", "352656100000010", str(capture), "--strict"],
            ExitCode.VALIDATION,
            "unreadable",
        ),
        (["import", "--db", db_url, "--device", "not an imei!", str(capture)], ExitCode.VALIDATION, "IMEI"),
        (["import", "--db", db_url, "--device", "1", str(tmp_path / "missing")], ExitCode.VALIDATION, "cannot read"),
        (["show", "--db", db_url, "999"], ExitCode.USAGE, "no device"),
        (["export", "--db", db_url, "-f", "xml"], ExitCode.USAGE, "unknown export format"),
        (["devices", "--db", "mysql://x/y"], ExitCode.USAGE, "unsupported"),
        (["drift", "--db", db_url, str(tmp_path / "nope.toml")], ExitCode.VALIDATION, "not found"),
    ]
    for args, expected, message in cases:
        code, _, err = _run("inventory", *args)
        assert code == expected, (args, err)
        assert message in err and "Traceback" not in err


def test_default_database_comes_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capture: Path
) -> None:
    monkeypatch.setenv("CREDWARDEN_DB", str(tmp_path / "env" / "inv.db"))
    (tmp_path / "env").mkdir()
    code, _, err = _run("inventory", "import", "--device", "352656100000010", str(capture))
    assert code == 0, err
    assert (tmp_path / "env" / "inv.db").exists()


def test_device_must_be_an_imei_unless_any_id(db_url: str, capture: Path) -> None:
    code, _, err = _run("inventory", "import", "--db", db_url, "--device", "my-board-7", str(capture))
    assert code == ExitCode.VALIDATION and "not an IMEI" in err and "--any-id" in err
    code, out, _ = _run("inventory", "devices", "--db", db_url, "--json")
    assert json.loads(out) == []
    code, _, err = _run("inventory", "import", "--db", db_url, "--device", "my-board-7", "--any-id", str(capture))
    assert code == 0, err
    code, out, _ = _run("inventory", "devices", "--db", db_url, "--json")
    assert [d["imei"] for d in json.loads(out)] == ["my-board-7"]


def test_db_in_a_missing_directory_is_refused(tmp_path: Path, capture: Path) -> None:
    target = tmp_path / "typo" / "inventory.db"
    for args in (["inventory", "devices"], ["inventory", "import", "--device", "352656100000010", str(capture)]):
        code, _, err = _run(*args, "--db", str(target))
        assert code == ExitCode.USAGE and "does not exist" in err, err
    assert not (tmp_path / "typo").exists()
    args = ["inventory", "import", "--device", "352656100000010", str(capture), "--create-dirs"]
    code, _, err = _run(*args, "--db", str(target))
    assert code == 0, err
    assert target.exists()


def test_forget_asks_names_the_device_and_what_goes(db_url: str, capture: Path) -> None:
    _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(capture))
    _run("inventory", "import", "--db", db_url, "--device", "352656100000028", str(capture))
    result = runner.invoke(app, ["inventory", "forget", "--db", db_url, "3526561000000"], input="y\n")
    assert result.exit_code == ExitCode.USAGE and "several devices" in result.stderr  # a prefix must be unique
    result = runner.invoke(app, ["inventory", "forget", "--db", db_url, "352656100000010"], input="n\n")
    assert result.exit_code == ExitCode.USAGE and "nothing was removed" in result.stderr
    assert "Forget device 352656100000010: 2 snapshots with 3 entries, 0 apply runs" in result.stderr
    code, out, _ = _run("inventory", "forget", "--db", db_url, "352656100000010", "--dry-run", "--json")
    assert code == 0 and json.loads(out) == {
        "imei": "352656100000010",
        "forgotten": False,
        "snapshots": 2,
        "entries": 3,
        "apply_runs": 0,
        "apply_actions": 0,
        "reports": 0,
        "alerts": 0,
    }
    result = runner.invoke(app, ["inventory", "forget", "--db", db_url, "352656100000010"], input="y\n")
    assert result.exit_code == 0 and "removed 2 snapshots" in result.stdout
    code, out, _ = _run("inventory", "devices", "--db", db_url, "--json")
    assert [d["imei"] for d in json.loads(out)] == ["352656100000028"]
    code, out, _ = _run("inventory", "forget", "--db", db_url, "352656100000028", "--yes", "--json")
    assert code == 0 and json.loads(out)["forgotten"] is True
    code, _, err = _run("inventory", "forget", "--db", db_url, "352656100000028", "--yes")
    assert code == ExitCode.USAGE and "no device" in err


def test_prune_dry_run_counts_then_removes(db_url: str, capture: Path, tmp_path: Path) -> None:
    listing = "".join(
        f"2026-01-{day:02d}T10:00:00Z DEBUG modem >> AT%CMNG=1\n"
        f'2026-01-{day:02d}T10:00:00Z DEBUG modem << %CMNG: 42,0,"{A}"\n'
        f"2026-01-{day:02d}T10:00:00Z DEBUG modem << OK\n"
        for day in range(1, 6)
    )
    log = tmp_path / "five.log"
    log.write_text(listing)
    _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(log))
    code, out, _ = _run("inventory", "prune", "--db", db_url, "--older-than", "1", "--dry-run", "--json")
    assert code == 0
    dry = json.loads(out)
    assert (dry["snapshots"], dry["entries"], dry["devices"], dry["pruned"], dry["keep_last"]) == (3, 3, 1, False, 2)
    result = runner.invoke(app, ["inventory", "prune", "--db", db_url, "--older-than", "1"], input="n\n")
    assert result.exit_code == ExitCode.USAGE and "Remove 3 snapshots with 3 entries of 1 device" in result.stderr
    code, out, _ = _run("inventory", "prune", "--db", db_url, "--older-than", "1", "--keep-last", "4", "--yes")
    assert code == 0 and "removed 1 snapshot with" in out
    code, out, _ = _run("inventory", "history", "--db", db_url, "352656100000010", "--json")
    assert [s["taken_at"][:10] for s in json.loads(out)["snapshots"]] == [f"2026-01-0{d}" for d in (2, 3, 4, 5)]


def test_sms_capture_imports_as_partial(db_url: str, capture: Path, tmp_path: Path) -> None:
    _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(capture))
    sms = tmp_path / "sms.txt"
    sms.write_text(f'%CMNG: 7,0,"{B}"\n')
    code, _, err = _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(sms))
    assert code == 0, err
    code, out, _ = _run("inventory", "show", "--db", db_url, "352656100000010", "--json")
    assert [(e["sec_tag"], e["type"]) for e in json.loads(out)["entries"]] == [(7, 0), (42, 0)]
    code, _, _ = _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(sms), "--complete")
    code, out, _ = _run("inventory", "show", "--db", db_url, "352656100000010", "--json")
    assert [(e["sec_tag"], e["type"]) for e in json.loads(out)["entries"]] == [(7, 0)]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exported_file_follows_the_umask(db_url: str, capture: Path, tmp_path: Path, umask: int, mode: int) -> None:
    import os

    _run("inventory", "import", "--db", db_url, "--device", "352656100000010", str(capture))
    target = tmp_path / "credwarden.prom"
    old = os.umask(umask)
    try:
        code, _, err = _run("inventory", "export", "--db", db_url, "-f", "prometheus", "-o", str(target))
    finally:
        os.umask(old)
    assert code == 0, err
    assert target.stat().st_mode & 0o777 == mode
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".credwarden.prom")]  # no temp file left
