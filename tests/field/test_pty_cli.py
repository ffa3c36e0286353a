"""End to end through a real pseudo-terminal: `credwarden sim --pty` in one process, the CLI in others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CLI = "from credwarden.__main__ import main; main()"


@contextmanager
def served_sim(directory: Path, *options: str) -> Iterator[str]:
    """Start `credwarden sim --pty` (state and log in `directory`); yield the device path; stop it."""
    command = [
        sys.executable,
        "-c",
        CLI,
        "sim",
        "--pty",
        "--fast",
        "--state",
        str(directory / "state.json"),
        "--log",
        str(directory / "sim-log.jsonl"),
        *options,
    ]
    err = (directory / "sim.err").open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()  # the simulator prints the device path first
        assert path.startswith("/dev/"), f"simulator did not start: {path!r}"
        yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        finally:
            err.close()
            if proc.stdout is not None:
                proc.stdout.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CREDWARDEN_PORT": ""},
    )


@pytest.mark.slow  # a simulator process plus eight CLI processes
def test_canary_catches_the_wipe_fault_through_a_pty(tmp_path: Path) -> None:
    (tmp_path / "id.txt").write_text("watched-identity")
    with served_sim(tmp_path, "--profile", "2.0.2", "--wipe-tag", "42", "--wipe-after", "4") as port:
        assert cli("write", "--port", port, "42", "psk-identity", str(tmp_path / "id.txt")).returncode == 0
        result = cli("canary", "--port", port, "--write-tag", "900", "--watch", "42,43", "--cycles", "20", "--json")
        assert result.returncode == 6, result.stderr
        data = json.loads(result.stdout)
        # writes to the wiped tag itself do not count: the wipe comes with the canary's 4th write
        assert data["changed_at_cycle"] == 4 and data["nvm_writes_at_change"] == 4
        assert [(c["sec_tag"], c["type"], c["change"]) for c in data["changes"]] == [(42, 4, "vanished")]
        doctor = cli("doctor", "--port", port, "--json")
        assert doctor.returncode == 0, doctor.stderr  # warnings only: the store holds no user entry any more
        assert "entries.empty" in {f["code"] for f in json.loads(doctor.stdout)["findings"]}
        assert "Traceback" not in doctor.stderr
