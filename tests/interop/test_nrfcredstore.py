"""Nordic's nrfcredstore (separate venv) drives `credwarden sim` on a pty and gets what a real modem gives."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from tests.interop.conftest import DRIVER
from tests.sim.certs import make_cert_pem

from credwarden.creds.csr import repair_csr_der

pytestmark = pytest.mark.interop


def _run(python: Path, port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(DRIVER), port, "--timeout", "2", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nrfcredstore_full_session(
    nrfcredstore_python: Path, sim_process: Callable[..., tuple[str, Path]], tmp_path: Path
) -> None:
    port, state = sim_process("--profile", "1.3.5")
    imei = _run(nrfcredstore_python, port, "imei")
    assert imei.returncode == 0, imei.stderr
    assert re.search(r"IMEI: \d{15}\b", imei.stdout)

    pem_file = tmp_path / "ca.pem"
    pem = make_cert_pem()
    pem_file.write_bytes(pem)
    written = _run(nrfcredstore_python, port, "write", "42", "ROOT_CA_CERT", str(pem_file))
    assert written.returncode == 0, written.stdout + written.stderr

    listed = _run(nrfcredstore_python, port, "list", "--tag", "42", "--type", "ROOT_CA_CERT")
    assert listed.returncode == 0, listed.stderr
    expected = hashlib.sha256(pem.rstrip()).hexdigest().upper()  # nrfcredstore writes file.read().rstrip()
    assert re.search(rf"^42\s+ROOT_CA_CERT\s+{expected}\s*$", listed.stdout, re.MULTILINE), listed.stdout

    csr_file = tmp_path / "csr.der"
    generated = _run(nrfcredstore_python, port, "generate", "43", str(csr_file), "--attributes", "CN=interop")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    der = csr_file.read_bytes()  # as the modem emitted it: ecdsa-with-SHA256 with the NULL parameter
    assert bytes.fromhex("300c06082a8648ce3d0403020500") in der
    repaired, changed = repair_csr_der(der)
    csr = x509.load_der_x509_csr(repaired)
    assert changed and csr.subject.rfc4514_string() == "CN=interop" and csr.is_signature_valid

    token = _run(nrfcredstore_python, port, "attoken")
    assert token.returncode == 0, token.stderr
    assert re.search(r"Attestation token: [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token.stdout)

    deleted = _run(nrfcredstore_python, port, "delete", "42", "ROOT_CA_CERT")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    gone = _run(nrfcredstore_python, port, "list", "--tag", "42")
    assert gone.returncode == 0 and not re.search(r"^42\s", gone.stdout, re.MULTILINE), gone.stdout

    missing = _run(nrfcredstore_python, port, "delete", "42", "ROOT_CA_CERT")
    assert missing.returncode != 0 and "Failed to delete credential" in missing.stderr  # CME 513

    _run(nrfcredstore_python, port, "write", "44", "PSK_ID", str(pem_file))
    wiped = _run(nrfcredstore_python, port, "deleteall")
    assert wiped.returncode == 0 and "All credentials deleted." in wiped.stdout, wiped.stdout + wiped.stderr

    final = _run(nrfcredstore_python, port, "list")
    tags = re.findall(r"^(\d+)\s", final.stdout, re.MULTILINE)
    assert tags == ["4294967293", "4294967294", "4294967292"]  # only the modem-reserved entries remain
    entries = json.loads(state.read_text())["entries"]
    assert {e["origin"] for e in entries} == {"factory"}


def test_nrfcredstore_detects_and_drives_the_shell_frontend(
    nrfcredstore_python: Path, sim_process: Callable[..., tuple[str, Path]], tmp_path: Path
) -> None:
    port, _ = sim_process("--frontend", "shell", "--profile", "2.0.2")
    pem_file = tmp_path / "ca.pem"
    pem = make_cert_pem()
    pem_file.write_bytes(pem)
    written = _run(nrfcredstore_python, port, "write", "7", "ROOT_CA_CERT", str(pem_file))
    assert written.returncode == 0, written.stdout + written.stderr
    listed = _run(nrfcredstore_python, port, "list", "--tag", "7")
    # the shell sends `\n` escapes, UNESCAPE_LF stores CR LF: the digest differs from the at_client one
    expected = hashlib.sha256(pem.rstrip().replace(b"\n", b"\r\n")).hexdigest().upper()
    assert re.search(rf"^7\s+ROOT_CA_CERT\s+{expected}\s*$", listed.stdout, re.MULTILINE), listed.stdout
