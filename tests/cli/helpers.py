"""Helpers for the CLI tests: the `credwarden` program as a real process, simulated boards on real ptys.

* `cli_process(*args, env=...)`: run `credwarden` in a subprocess (80 columns, no colour), return the result.
* `run_cli(*args, env=...)`: the same in this process (typer's CliRunner), for the many quick invocations.
* `Board`: a simulated board served on a pty by the test process, so a test can look at its store, CFUN and
  command log while (and after) the CLI talks to it; `Board.changes()` lists the commands that changed it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from credwarden.sim import SimModem

#: Environment variables of the CLI's global options: a developer's shell must not leak into the tests.
CLI_ENV = (
    "CREDWARDEN_PORT",
    "CREDWARDEN_BAUD",
    "CREDWARDEN_MODE",
    "CREDWARDEN_FLOW_CONTROL",
    "CREDWARDEN_TIMEOUT",
    "CREDWARDEN_STATION",
)

#: Kinds of simulator log records that change a board: writes, deletes, keygen, functional mode.
CHANGING_KINDS = ("%CMNG=0", "%CMNG=3", "%KEYGEN", "#XCMNG", "+CFUN=")


def luhn_imei(prefix14: str) -> str:
    """A 15-digit IMEI: `prefix14` plus its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(prefix14)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return prefix14 + str((10 - total % 10) % 10)


def credwarden_program() -> list[str]:
    """The installed console script next to this interpreter (else `python -m credwarden`)."""
    exe = Path(sys.executable).with_name("credwarden")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "credwarden"]


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI process: the test's own (private inventory and journal), 80 columns, no colour."""
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV}
    env.update({"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def cli_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `credwarden ARGS` to completion."""
    return subprocess.run(
        [*credwarden_program(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=process_env(env),
        input=stdin,
    )


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run the CLI in this process (stdout and stderr apart); exceptions propagate (a traceback fails the test)."""
    from credwarden.cli.app import app

    return CliRunner().invoke(app, list(args), env=env, input=stdin, catch_exceptions=False)


@dataclass
class Board:
    """A simulated board served on a pty by the test process."""

    sim: SimModem
    port: str

    @property
    def imei(self) -> str:
        return str(self.sim.config.imei)

    def user_entries(self) -> set[tuple[int, int]]:
        return {(e.sec_tag, e.type) for e in self.sim.store if 0 <= e.sec_tag <= 2147483647}

    def kinds(self, since: int = 0) -> list[str]:
        return [r.kind for r in self.sim.accounting.records[since:]]

    def changes(self, since: int = 0) -> list[str]:
        """Commands after record `since` that changed the board (NVM or CFUN)."""
        return [k for k in self.kinds(since) if k.startswith(CHANGING_KINDS)]

    @property
    def cfun(self) -> int:
        return int(self.sim.ram.cfun)
