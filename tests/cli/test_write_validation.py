"""`credwarden write` validates like `apply`: the whole bad-input corpus of apply, each case as the `write` of the
bad credential, against a simulated board on a real pty: exit 5, the reason on stderr, nothing sent that could
change the board (no %CMNG=0/3, no CFUN change, zero NVM writes). Plus the issue's reproductions, a DER file
(accepted, stored as PEM) and `delete` of modem-owned entries (refused before sending).

A corpus case becomes a write by reading its manifest: each `[[credential]]` table is one `write TAG TYPE FILE`
(inline values go to a file, `password_env` to `--password-env`, `allow_*` options to their flags). In a
manifest of several tables only the tables whose file differs from the good test PKI are written (the others are
the healthy context). Cases that are about the manifest itself (syntax, placeholders, cross-table checks, nRF
Cloud JSON) have no `write` form; `NOT_A_WRITE` lists them with the reason, and a test keeps that list exact.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from provision_pki import Pki, der, key_pem, make_cert, pem
from test_provision_bad_inputs import CASES, ENV, Case
from tests.cli.helpers import Board, cli_process, luhn_imei, run_cli

from credwarden.sim import SimConfig, SimModem

#: Corpus cases that have no `write` form, with the reason.
NOT_A_WRITE = {
    "key not matching the cert": "cross-table check (the certificate of the same manifest)",
    "duplicate entry": "cross-table check",
    "empty manifest": "manifest structure",
    "invalid TOML": "manifest syntax",
    "unknown type": "manifest field (the CLI argument is a usage error, exit 2: see below)",
    "file and value": "manifest field",
    "neither file nor value": "manifest field",
    "inline CA": "manifest field",
    "inline password": "manifest field",
    "option typo": "manifest field",
    "bad unverifiable policy": "manifest field",
    "sec_tag as a string": "manifest field",
    "native TLS tag too large": "manifest option (native_tls)",
    "unknown placeholder": "manifest placeholder",
    "imei placeholder without device": "manifest placeholder",
    "nrfcloud JSON invalid": "nRF Cloud JSON tables",
    "nrfcloud JSON without credentials": "nRF Cloud JSON tables",
    "nrfcloud tag without opt-in": "nRF Cloud JSON tables",
}
#: Corpus cases whose write form is refused by argument parsing (a sec_tag outside the argument's range): exit 2.
USAGE_CASES = {"tag above uint32", "negative tag"}
#: Manifest options that are `write` flags.
FLAGS = ("allow_expired", "allow_not_yet_valid", "allow_nrf_cloud_tag", "allow_tls_decrypt_tag")


@dataclass(frozen=True)
class WriteCall:
    sec_tag: int
    type: str
    file: Path
    options: tuple[str, ...]

    def args(self) -> list[str]:
        # "--" so that a negative sec_tag is taken as the argument it is, not as an option
        return ["write", *self.options, "--", str(self.sec_tag), self.type, str(self.file)]


def write_calls(pki: Pki, case: Case, directory: Path) -> list[WriteCall]:
    """The `write` invocations equivalent to a corpus case (see the module doc)."""
    spec = tomllib.loads(case.build(pki, directory))
    tables: list[dict[str, Any]] = spec["credential"]
    good = {"root-ca": pki.ca_pem, "client-cert": pki.client_pem, "client-key": pki.key_pem}
    chosen = tables
    if len(tables) > 1:
        differing = [t for t in tables if (directory / t["file"]).read_bytes() != good[t["type"]]]
        chosen = differing or tables
    calls = []
    for index, table in enumerate(chosen):
        if "value" in table:
            path = directory / f"value-{index}.txt"
            path.write_text(table["value"])
        else:
            path = directory / table["file"]
        options: list[str] = []
        for flag in FLAGS:
            if table.get(flag, spec.get(flag)):
                options.append("--" + flag.replace("_", "-"))
        if "password_env" in table:
            options += ["--password-env", table["password_env"]]
        calls.append(WriteCall(table["sec_tag"], table["type"], path, tuple(options)))
    return calls


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def board() -> Iterator[Board]:
    sim = SimModem(SimConfig(profile="2.0.2", frontend="at_client", fast=True, imei=luhn_imei("35265610555555")))
    with sim, sim.serve_pty() as path:
        yield Board(sim, path)


def assert_nothing_changed(board: Board, since: int) -> None:
    assert board.sim.store.nvm_writes == 0
    assert board.changes(since) == [], board.kinds(since)


WRITE_CASES = [c for c in CASES if c.name not in NOT_A_WRITE]


def test_every_corpus_case_is_a_write_or_explained() -> None:
    names = {c.name for c in CASES}
    assert set(NOT_A_WRITE) <= names  # no stale entries
    assert len(WRITE_CASES) >= 40


@pytest.mark.parametrize("case", WRITE_CASES, ids=[c.name for c in WRITE_CASES])
def test_bad_input_is_refused_by_write_before_anything_is_sent(
    pki: Pki, case: Case, tmp_path: Path, board: Board
) -> None:
    calls = write_calls(pki, case, tmp_path)
    assert calls
    for call in calls:
        since = len(board.sim.accounting.records)
        result = run_cli("--port", board.port, *call.args(), env=ENV)
        expected = 2 if case.name in USAGE_CASES else 5
        assert result.exit_code == expected, f"{call.args()}: {result.stdout}{result.stderr}"
        if expected == 5:
            assert (case.sim_message or case.message) in result.stderr
        assert "Traceback" not in result.stderr
        assert_nothing_changed(board, since)
        key_body = pki.key_pem.split(b"\n")[1][:24].decode()
        assert key_body not in result.stdout + result.stderr  # never key material in a message


def test_bad_input_with_json_is_a_problem_list(pki: Pki, tmp_path: Path, board: Board) -> None:
    (tmp_path / "ca.pem").write_bytes(pki.key_pem)
    result = run_cli("--port", board.port, "write", "7", "root-ca", str(tmp_path / "ca.pem"), "--json")
    assert result.exit_code == 5
    data = json.loads(result.stdout)
    assert data["ok"] is False and "holds a private key" in data["problems"][0]["reason"]
    # the problem is named by the command, slot and file the user typed, not by an internal table index
    assert data["problems"][0]["source"] == f"credwarden write 7 root-ca ({tmp_path / 'ca.pem'})"


# -- the issue's reproductions, in real processes --------------------------------------------------------------


def _expired(pki: Pki) -> bytes:
    now = datetime.now(UTC)
    return pem(
        make_cert(
            "expired",
            pki.client_key,
            issuer="credwarden TEST ONLY root CA",
            issuer_key=pki.ca_key,
            not_before=now - timedelta(days=800),
            not_after=now - timedelta(days=400),
        )
    )


ISSUE_CASES: list[tuple[str, str, str, Any, tuple[str, ...], str]] = [
    # (name, sec_tag, type, content from the PKI, extra options, expected reason)
    ("truncated PEM", "7", "root-ca", lambda p: p.ca_pem[:200], (), "without a matching 'END CERTIFICATE'"),
    ("literal \\n", "7", "root-ca", lambda p: p.ca_pem.replace(b"\n", b"\\n"), (), "literal '\\n'"),
    ("key as root-ca", "7", "root-ca", lambda p: p.key_pem, (), "holds a private key, not a certificate"),
    ("cert as client-key", "7", "client-key", lambda p: p.client_pem, (), "holds a certificate, not a private key"),
    ("PSK zz", "7", "psk", lambda p: b"zz", (), "PSK must be a hex string"),
    (
        "encrypted key without password",
        "7",
        "client-key",
        lambda p: key_pem(p.client_key, b"pw"),
        (),
        "encrypted and no password was given",
    ),
    ("expired certificate", "7", "client-cert", _expired, (), "expired on"),
    ("reserved tag", "4294967292", "psk-identity", lambda p: b"id", (), "reserved for the modem"),
    ("reserved tag 4294967293", "4294967293", "root-ca", lambda p: p.ca_pem, (), "reserved for the modem"),
    ("modem-owned type", "7", "identity-key", lambda p: p.key_pem, (), "is managed by the modem"),
]


@pytest.mark.parametrize("case", ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_issue_reproductions_exit_5_in_a_real_process(
    pki: Pki, tmp_path: Path, board: Board, case: tuple[str, str, str, Any, tuple[str, ...], str]
) -> None:
    _, sec_tag, type_, content, options, reason = case
    path = tmp_path / "input"
    path.write_bytes(content(pki))
    since = len(board.sim.accounting.records)
    result = cli_process("--port", board.port, "write", sec_tag, type_, str(path), *options)
    assert result.returncode == 5, result.stdout + result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr
    assert_nothing_changed(board, since)


def test_expired_certificate_is_written_with_allow_expired(pki: Pki, tmp_path: Path, make_board: Any) -> None:
    target: Board = make_board(profile="2.0.2")
    path = tmp_path / "expired.pem"
    path.write_bytes(_expired(pki))
    result = run_cli("--port", target.port, "write", "7", "client-cert", str(path), "--allow-expired", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["written"] is True


@pytest.mark.parametrize("frontend", ["at_client", "shell", "slm"])
def test_der_file_is_accepted_and_stored_as_pem(pki: Pki, tmp_path: Path, make_board: Any, frontend: str) -> None:
    target: Board = make_board(profile="2.0.2", frontend=frontend)
    path = tmp_path / "ca.der"
    path.write_bytes(der(pki.ca))
    result = cli_process("--port", target.port, "write", "1001", "root-ca", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["written"] is True and data["status"] == "written"
    stored = target.sim.store.get(1001, 0)
    assert stored is not None and stored.content is not None
    assert stored.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_pem_x509_certificate(stored.content) == pki.ca  # the same certificate, in PEM
    assert stored.sha == data["predicted_sha256"]  # the digest the modem lists is the one predicted
    again = cli_process("--port", target.port, "write", "1001", "root-ca", str(path))
    assert again.returncode == 0 and "already holds this content" in again.stdout
    assert target.sim.store.writes_of(1001, 0) == 1


def test_pem_with_crlf_and_text_around_is_stored_canonically(pki: Pki, tmp_path: Path, make_board: Any) -> None:
    target: Board = make_board(profile="2.0.2")
    path = tmp_path / "ca.pem"
    path.write_bytes(b"Subject: test CA\r\n" + pki.ca_pem.replace(b"\n", b"\r\n"))
    assert run_cli("--port", target.port, "write", "1001", "root-ca", str(path)).exit_code == 0
    stored = target.sim.store.get(1001, 0)
    assert stored is not None and stored.content == pki.ca.public_bytes(serialization.Encoding.PEM)


# -- delete of reserved / modem-owned entries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sec_tag", "type_"),
    [
        ("4294967292", "nordic-base-key"),
        ("4294967293", "10"),
        ("4294967294", "identity-key"),
        ("4294967292", "psk"),  # a reserved tag, whatever the type
        ("7", "identity-key"),  # a modem-managed type, whatever the tag
    ],
)
def test_delete_of_modem_owned_entries_is_refused_before_sending(board: Board, sec_tag: str, type_: str) -> None:
    before = {(e.sec_tag, e.type) for e in board.sim.store}
    since = len(board.sim.accounting.records)
    result = run_cli("--port", board.port, "delete", sec_tag, type_)
    assert result.exit_code == 5, result.stdout + result.stderr
    assert "modem-owned" in result.stderr
    assert board.kinds(since) == []  # the port was not even opened
    assert {(e.sec_tag, e.type) for e in board.sim.store} == before
    result = run_cli("--port", board.port, "delete", sec_tag, type_, "--json")
    assert result.exit_code == 5 and "modem-owned" in json.loads(result.stdout)["problems"][0]["reason"]
    assert board.kinds(since) == []
