"""Small things users notice: `--out FILE` writes the file and nothing to stdout (`read`, `keygen`),
`credwarden --version`, and the `delete-all` question names the device and the count. Real processes against a
simulated board on a pty.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from cryptography import x509
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import Board, cli_process

from credwarden.sim.store import make_entry


def _with_ca(board: Board, content: bytes) -> None:
    board.sim.store.put(make_entry(1001, 0, content), count=False)


CA = (Path(__file__).resolve().parents[2] / "examples" / "certs" / "ca.pem").read_bytes()


def test_read_out_writes_only_the_file(make_board: BoardFactory, tmp_path: Path) -> None:
    board = make_board()
    _with_ca(board, CA)
    target = tmp_path / "read.pem"
    result = cli_process("--port", board.port, "read", "1001", "root-ca", "--out", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert target.read_bytes() == CA
    assert str(target) in result.stderr  # what was done is said on stderr


def test_keygen_out_writes_only_the_file(make_board: BoardFactory, tmp_path: Path) -> None:
    board = make_board(profile="2.0.2")
    pem_file, der_file = tmp_path / "csr.pem", tmp_path / "csr.der"
    result = cli_process("--port", board.port, "keygen", "7", "--out", str(pem_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    csr = x509.load_pem_x509_csr(pem_file.read_bytes())
    assert csr.is_signature_valid and board.imei in result.stderr
    result = cli_process("--port", board.port, "keygen", "8", "-o", str(der_file))
    assert result.returncode == 0 and result.stdout == ""
    assert x509.load_der_x509_csr(der_file.read_bytes()).is_signature_valid


def test_version() -> None:
    for args in (["--version"], ["--version", "list"], ["list", "--version"]):
        result = cli_process(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"credwarden {version('credwarden')}\n"


def test_delete_all_question_names_the_device_and_the_count(make_board: BoardFactory) -> None:
    board = make_board()
    for tag in (5, 6, 7):
        board.sim.store.put(make_entry(tag, 4, f"id-{tag}".encode()), count=False)
    refused = cli_process("--port", board.port, "delete-all", stdin="n\n")
    assert refused.returncode == 2, refused.stderr
    question = refused.stderr
    assert "3 user credential" in question and board.imei in question and board.port in question
    assert "nothing was deleted" in refused.stderr
    assert board.user_entries() == {(5, 4), (6, 4), (7, 4)}
    confirmed = cli_process("--port", board.port, "delete-all", "--json", stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    data = json.loads(confirmed.stdout)
    assert data["device"] == {"port": board.port, "imei": board.imei}
    assert sorted(e["sec_tag"] for e in data["entries"] if e["deleted"]) == [5, 6, 7]
    assert board.user_entries() == set()
