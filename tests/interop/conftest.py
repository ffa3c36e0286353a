"""Interop fixtures: a reusable virtual environment with nrfcredstore, and `credwarden sim` on a pty."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".interop-venv"
DRIVER = Path(__file__).with_name("nrfcredstore_driver.py")
PYTHON = VENV / "bin" / "python"


def _has_nrfcredstore() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import nrfcredstore.cli"], capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def nrfcredstore_python() -> Path:
    """The python of `.interop-venv` with nrfcredstore installed (created once; skipped when impossible)."""
    if not _has_nrfcredstore():
        try:
            if not PYTHON.exists():
                venv_cmd = [sys.executable, "-m", "venv", str(VENV)]
                subprocess.run(venv_cmd, check=True, capture_output=True, timeout=120)
            pip_cmd = [str(PYTHON), "-m", "pip", "install", "-q", "nrfcredstore"]
            subprocess.run(pip_cmd, check=True, capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            reason = detail.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
            pytest.skip(f"cannot install nrfcredstore into {VENV} (offline?): {reason[0]}")
        if not _has_nrfcredstore():
            pytest.skip(f"nrfcredstore is not importable in {VENV}")
    return PYTHON


def _credwarden() -> list[str]:
    exe = Path(sys.executable).with_name("credwarden")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "credwarden"]


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """Start `credwarden sim --fast --state FILE [args]` and return (pty path, state file); SIGTERM at the end."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[str, Path]:
        state = tmp_path / "nvm.json"
        process = subprocess.Popen(
            [*_credwarden(), "sim", "--fast", "--state", str(state), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), f"credwarden sim printed {path!r}; stderr: {process.stderr}"
        return path, state

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=10) == 0, "credwarden sim did not exit cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
