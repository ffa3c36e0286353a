"""At 80 columns (a laptop terminal, a pipe into `make demo`) no table breaks a digest or an IMEI: every SHA-256
and every IMEI a command shows appears unbroken on one line, or shortened as `XXXXXXXXXXXX..XXXX`; `--wide` shows
every digest whole; `doctor` findings are never cut. Real processes against a simulated board on a pty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from provision_pki import Pki, manifest_text
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import Board, cli_process

HEX_RUN = re.compile(r"[0-9A-Fa-f]{6,}")
ELLIPSIS = "\u2026"
BOX = re.compile("[\u2500-\u257f]")  #: box-drawing characters: a table line


def broken_values(output: str, values: set[str]) -> list[str]:
    """Lines showing a piece of a known digest/IMEI that is neither the whole value nor its `head..tail` form."""
    problems = []
    for line in output.splitlines():
        for match in HEX_RUN.finditer(line):
            run = match.group().upper()
            for value in values:
                if run == value or run not in value:
                    continue
                after = line[match.end() :]
                if run == value[:12] and after.upper().startswith(".." + value[-4:]) and not after.startswith("..."):
                    continue  # the shortened form
                problems.append(f"{run!r} of {value[:12]}..: {line!r}")
    return problems


def shown(output: str, values: set[str]) -> set[str]:
    """The known values that appear whole or shortened."""
    text = output.upper()
    return {v for v in values if v in text or f"{v[:12]}..{v[-4:]}" in text}


@pytest.fixture
def scene(make_board: BoardFactory, tmp_path: Path) -> tuple[Board, Path, set[str]]:
    """A board provisioned from a manifest, then one entry replaced behind the tool's back (a `different` plan
    row and a changed inventory snapshot); returns the board, the manifest and every digest/IMEI in play."""
    board = make_board(profile="2.0.2", boot_cfun=1)
    pki = Pki()
    pki.write(tmp_path)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_text())
    assert cli_process("--port", board.port, "apply", str(manifest)).returncode == 0
    other = Pki()
    (tmp_path / "other-ca.pem").write_bytes(other.ca_pem)
    assert cli_process("--port", board.port, "write", "42", "root-ca", str(tmp_path / "other-ca.pem")).returncode == 0
    assert cli_process("--port", board.port, "list").returncode == 0  # a snapshot with the changed digest
    digests = {e.sha.upper() for e in board.sim.store}
    plan = json.loads(cli_process("--port", board.port, "apply", str(manifest), "--dry-run", "--json").stdout)
    assert [a["action"] for a in plan["actions"]].count("write") == 1
    from credwarden.creds.encoding import canonical_pem, sha256_hex

    digests.add(sha256_hex(canonical_pem(pki.ca_pem)).upper())  # the manifest's (expected) root CA
    return board, manifest, digests | {board.imei}


def _commands(board: Board, manifest: Path) -> dict[str, list[str]]:
    imei = board.imei
    return {
        "list": ["--port", board.port, "list", "--no-record"],
        "plan": ["--port", board.port, "plan", str(manifest)],
        "dry run": ["--port", board.port, "apply", str(manifest), "--dry-run"],
        "doctor": ["--port", board.port, "doctor", str(manifest)],
        "devices": ["inventory", "devices"],
        "show": ["inventory", "show", imei],
        "history": ["inventory", "history", imei],
        "diff": ["inventory", "diff", imei],
        "drift": ["inventory", "drift", str(manifest)],
        "audit": ["audit", str(manifest), "--from-inventory", imei],
        "apply": ["--port", board.port, "apply", str(manifest)],  # last: it repairs the replaced entry
    }


def test_no_table_breaks_a_digest_or_an_imei_at_80_columns(scene: tuple[Board, Path, set[str]]) -> None:
    board, manifest, values = scene
    seen: set[str] = set()
    for name, args in _commands(board, manifest).items():
        result = cli_process(*args)
        assert result.returncode in (0, 1, 6, 9), f"{name}: {result.stderr}"
        assert "Traceback" not in result.stderr
        table_lines = [line for line in result.stdout.splitlines() if BOX.search(line)]
        assert all(len(line) <= 80 for line in table_lines), f"{name}:\n{result.stdout}"
        assert broken_values(result.stdout, values) == [], f"{name}:\n{result.stdout}"
        assert ELLIPSIS not in result.stdout, f"{name} cut something:\n{result.stdout}"
        seen |= shown(result.stdout, values)
    assert board.imei in seen and len(seen) >= 4  # the check is not vacuous


def test_wide_shows_every_digest_whole(scene: tuple[Board, Path, set[str]]) -> None:
    board, _, values = scene
    for args in (["--port", board.port, "list", "--no-record"], ["inventory", "show", board.imei]):
        result = cli_process(*args, "--wide")
        assert result.returncode == 0, result.stderr
        stored = {e.sha.upper() for e in board.sim.store}
        assert stored <= {run.upper() for run in HEX_RUN.findall(result.stdout)}, result.stdout
        assert broken_values(result.stdout, values) == [] and ELLIPSIS not in result.stdout, result.stdout


def test_doctor_findings_are_not_cut_at_80_columns(scene: tuple[Board, Path, set[str]]) -> None:
    board, manifest, _ = scene
    data = json.loads(cli_process("--port", board.port, "doctor", str(manifest), "--json").stdout)
    assert data["findings"]
    result = cli_process("--port", board.port, "doctor", str(manifest))
    assert ELLIPSIS not in result.stdout
    words = re.compile(r"\S+")
    text = set(words.findall(result.stdout))
    for finding in data["findings"]:
        for field in ("title", "detail", "fix"):
            for word in words.findall(finding[field] or ""):
                assert word in text, f"{word!r} of {finding['code']}.{field} is not shown whole:\n{result.stdout}"
