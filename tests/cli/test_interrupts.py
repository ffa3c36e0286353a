"""Ctrl-C at any moment: SIGINT sent to a real `credwarden apply` process (one board, and a batch of boards) at
several moments — during start-up while the CLI is still importing, during detection, in the middle of the
writes, during an on-device key generation, while the run is being recorded. Afterwards: exit 130, no traceback,
every board back in the CFUN it was found in (read from the simulator), and with `--json` the partial report
(one board: one JSON object with `"interrupted": true`; a batch: a row per board and the summary on stderr).

The boards are simulators with realistic latencies served on ptys by the test process, which watches their
command logs to pick the moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import Board, credwarden_program, process_env

from credwarden.sim import timing_from_ms

INTERRUPTED = 130
#: Latencies (ms) that leave time to interrupt each phase: slower NVM writes and CFUN changes, a long keygen.
LATENCIES = {"nvm_write_ms": 120, "cfun_ms": 150, "keygen_ms": 2500}
KEYGEN_TAG = 44


@dataclass
class Running:
    """A `credwarden` process whose stdout and stderr are collected line by line while it runs."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, *args: str, env: dict[str, str] | None = None) -> Running:
        process = subprocess.Popen(
            [*credwarden_program(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=process_env(env),
        )
        running = cls(process)
        for stream, sink in ((process.stdout, running.stdout), (process.stderr, running.stderr)):
            reader = threading.Thread(target=lambda s=stream, out=sink: out.extend(iter(s.readline, "")), daemon=True)
            reader.start()
            running.readers.append(reader)
        return running

    def interrupt_when(self, moment: Callable[[], bool], timeout: float = 60.0) -> None:
        """Send SIGINT as soon as `moment()` is true (the test fails if the process ends first)."""
        deadline = time.monotonic() + timeout
        while not moment():
            assert self.process.poll() is None, f"finished before the moment: {''.join(self.stderr)}"
            assert time.monotonic() < deadline, "the moment never came"
            time.sleep(0.002)
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=5)
        return code

    @property
    def err(self) -> str:
        """stderr without the import-time profile lines (start-up moment)."""
        return "".join(line for line in self.stderr if not line.startswith("import time:"))

    @property
    def out(self) -> str:
        return "".join(self.stdout)


def _manifest(tmp_path: Path, *, keygen: bool = False) -> Path:
    """Five credentials on two sec_tags (a throwaway PKI), optionally a `[[keygen]]` table on sec_tag 44."""
    from cryptography.hazmat.primitives import serialization

    from credwarden.creds.ca import LocalCA

    ca = LocalCA.generate(tmp_path / "ca", "credwarden TEST ONLY interrupt CA")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    text = (
        '[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[credential]]\nsec_tag = 42\ntype = "psk-identity"\nvalue = "interrupt-test"\n'
        '[[credential]]\nsec_tag = 42\ntype = "psk"\nvalue = "0011223344556677"\n'
        '[[credential]]\nsec_tag = 43\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[credential]]\nsec_tag = 43\ntype = "psk-identity"\nvalue = "interrupt-test-2"\n'
    )
    if keygen:
        text += f'[[keygen]]\nsec_tag = {KEYGEN_TAG}\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\n'
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path


def _board(make_board: BoardFactory, tmp_path: Path, index: int = 0, cfun: int = 1) -> Board:
    return make_board(
        profile="2.0.2",
        boot_cfun=cfun,
        fast=False,
        timing=timing_from_ms(LATENCIES),
        state_file=tmp_path / f"board-{index}.json",
    )


def _seen(boards: list[Board], kind: str, count: int = 1) -> Callable[[], bool]:
    return lambda: sum(b.kinds().count(kind) for b in boards) >= count


def _detecting(boards: list[Board]) -> Callable[[], bool]:
    """Some board received the first command of the session (the dialect probe)."""
    return lambda: any(b.kinds() for b in boards)


def _generating(boards: list[Board]) -> Callable[[], bool]:
    """Some board is inside its %KEYGEN (the simulator stores the key, then takes `keygen_ms` to answer)."""
    return lambda: any(b.sim.store.get(KEYGEN_TAG, 2) is not None for b in boards)


def _importing(running: list[Running]) -> Callable[[], bool]:
    """The CLI has started importing its own modules (start-up, before any import of the commands finished)."""
    return lambda: any("credwarden.cli" in line for line in running[0].stderr)


def _assert_clean_exit(run: Running, boards: list[Board], found: dict[str, int]) -> None:
    assert run.wait() == INTERRUPTED, run.err
    assert "Traceback" not in run.err and "KeyboardInterrupt" not in run.err, run.err
    assert "interrupted" in run.err
    time.sleep(0.3)  # let a board finish a command it received just before the process ended
    assert {b.port: b.cfun for b in boards} == found, [b.kinds()[-8:] for b in boards]


# -- one board ---------------------------------------------------------------------------------------------------

SINGLE_MOMENTS = ["start-up", "detection", "mid-write", "keygen"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", SINGLE_MOMENTS)
def test_ctrl_c_on_one_board(make_board: BoardFactory, tmp_path: Path, moment: str) -> None:
    board = _board(make_board, tmp_path)
    manifest = _manifest(tmp_path, keygen=moment == "keygen")
    env = {"PYTHONPROFILEIMPORTTIME": "1"} if moment == "start-up" else None
    holder: list[Running] = []
    run = Running.start("--port", board.port, "apply", str(manifest), "--json", env=env)
    holder.append(run)
    trigger = {
        "start-up": _importing(holder),
        "detection": _detecting([board]),
        "mid-write": _seen([board], "%CMNG=0", 2),
        "keygen": _generating([board]),
    }[moment]
    run.interrupt_when(trigger)
    _assert_clean_exit(run, [board], {board.port: 1})
    if moment == "start-up":
        assert board.kinds() == []  # the port was never opened
        return
    report = json.loads(run.out)  # one JSON document
    assert report["interrupted"] is True and report["ok"] is False
    if moment == "keygen":
        assert "%KEYGEN=" in board.kinds(), " ".join(board.kinds())
    if moment in ("mid-write", "keygen"):
        statuses = [a["status"] for a in report["actions"]]
        assert "written" in statuses, statuses
        done = {(a["sec_tag"], a["type"]) for a in report["actions"] if a["status"] == "written"}
        assert done <= board.user_entries()  # what the report says was written is on the board


@pytest.mark.slow
def test_ctrl_c_while_recording_still_reports_the_finished_apply(make_board: BoardFactory, tmp_path: Path) -> None:
    """The apply finished (CFUN restored, session closed); Ctrl-C lands while the report is printed or the run is
    written to the inventory: the report comes out whole, the record completes, and the exit code is 130."""
    board = _board(make_board, tmp_path)
    manifest = _manifest(tmp_path)
    run = Running.start("--port", board.port, "apply", str(manifest), "--json")

    def session_closed() -> bool:
        kinds = board.kinds()
        return kinds.count("%CMNG=0") >= 5 and kinds[-1] == "+CMEE="  # numeric errors put back: session over

    run.interrupt_when(session_closed)
    code = run.wait()
    assert code == INTERRUPTED or (code == 0 and "interrupted" not in run.err), run.err
    assert "Traceback" not in run.err, run.err
    assert run.out.strip(), run.err
    report = json.loads(run.out)  # the report of the finished apply is printed in any case
    assert report["ok"] is True and [a["status"] for a in report["actions"]] == ["written"] * 5
    assert board.cfun == 1
    from credwarden.inventory.store import Inventory

    with Inventory.open(os.environ["CREDWARDEN_DB"]) as inventory:  # one Ctrl-C waits for the record
        _, runs = inventory.history(board.imei)
    assert [r.ok for r in runs] == [True]


# -- a batch -----------------------------------------------------------------------------------------------------

BATCH_MOMENTS = ["start-up", "detection", "mid-write", "keygen"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", BATCH_MOMENTS)
def test_ctrl_c_in_a_batch(make_board: BoardFactory, tmp_path: Path, moment: str) -> None:
    boards = [_board(make_board, tmp_path, i) for i in range(3)] + [_board(make_board, tmp_path, 3, cfun=4)]
    found = {b.port: b.cfun for b in boards}
    assert sorted(found.values()) == [1, 1, 1, 4]
    manifest = _manifest(tmp_path, keygen=moment == "keygen")
    ports = [arg for b in boards for arg in ("--port", b.port)]
    env = {"PYTHONPROFILEIMPORTTIME": "1"} if moment == "start-up" else None
    holder: list[Running] = []
    run = Running.start(*ports, "apply", str(manifest), "--json", "--no-record", env=env)
    holder.append(run)
    trigger = {
        "start-up": _importing(holder),
        "detection": _detecting(boards),
        "mid-write": _seen(boards, "%CMNG=0", 3),
        "keygen": _generating(boards),
    }[moment]
    run.interrupt_when(trigger)
    _assert_clean_exit(run, boards, found)
    if moment == "start-up":
        assert all(b.kinds() == [] for b in boards)
        return
    if moment == "keygen":
        assert any("%KEYGEN=" in b.kinds() for b in boards)
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert sorted(row["port"] for row in rows) == sorted(found)  # one row per board
    assert all(row["ok"] is False or row["status"] in ("applied", "unchanged") for row in rows)
    summary = json.loads([line for line in run.err.splitlines() if line.startswith("{")][-1])
    assert summary["interrupted"] is True and summary["summary"]["total"] == len(boards)


# -- a batch of `credwarden sim` processes, CFUN read back by connecting afterwards -------------------------------


@contextlib.contextmanager
def _sim_processes(directory: Path, count: int) -> Iterator[list[tuple[str, Path]]]:
    """`count` x `credwarden sim --boot-cfun 1` (own state file, realistic delays, a command log); yields
    (device path, log file) per board and stops them afterwards."""
    latencies = [arg for key, ms in LATENCIES.items() for arg in (f"--{key.replace('_', '-')}", str(ms))]
    processes: list[subprocess.Popen[str]] = []
    boards: list[tuple[str, Path]] = []
    try:
        for index in range(count):
            log = directory / f"sim-{index}.jsonl"
            command = ["sim", "--pty", "--profile", "2.0.2", "--boot-cfun", "1", *latencies]
            command += ["--state", str(directory / f"sim-{index}.json"), "--log", str(log)]
            process = subprocess.Popen(
                [*credwarden_program(), *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            processes.append(process)
            assert process.stdout is not None
            path = process.stdout.readline().strip()
            assert path.startswith("/dev/"), f"simulator did not start: {path!r}"
            boards.append((path, log))
        yield boards
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait(timeout=20)
            if process.stdout is not None:
                process.stdout.close()


def _logged(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["kind"] for line in log.read_text().splitlines() if line.endswith("}")]


@pytest.mark.slow
def test_ctrl_c_mid_write_in_a_batch_of_simulator_processes(tmp_path: Path) -> None:
    from tests.sim.rawclient import RawPort

    manifest = _manifest(tmp_path)
    with _sim_processes(tmp_path, 3) as boards:
        ports = [arg for path, _ in boards for arg in ("--port", path)]
        run = Running.start(*ports, "apply", str(manifest), "--json", "--no-record")
        run.interrupt_when(lambda: sum(_logged(log).count("%CMNG=0") for _, log in boards) >= 3)
        assert run.wait() == INTERRUPTED, run.err
        assert "Traceback" not in run.err
        rows = [json.loads(line) for line in run.out.splitlines()]
        assert sorted(row["port"] for row in rows) == sorted(path for path, _ in boards)
        assert any(row["error"] and "interrupted" in row["error"] for row in rows)
        for path, log in boards:
            assert "+CFUN=" in _logged(log)  # each board was taken offline for the writes ...
            with RawPort(path) as port:  # ... and is back online
                answer = port.command("AT+CFUN?")
            assert b"+CFUN: 1" in answer, (path, answer)
