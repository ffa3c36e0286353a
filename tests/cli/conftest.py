"""Fixtures of the CLI tests: no CLI environment variables leak in; simulated boards on ptys (`make_board`).

The provisioning tests' throwaway PKI (`provision_pki`) and bad-input corpus (`test_provision_bad_inputs`) are
shared with these tests: tests/provision is not a package, so its directory goes on the import path here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import CLI_ENV, Board, luhn_imei
from tests.conftest import MakeSim

BoardFactory = Callable[..., Board]

PROVISION_TESTS = str(Path(__file__).resolve().parents[1] / "provision")
if PROVISION_TESTS not in sys.path:
    sys.path.insert(0, PROVISION_TESTS)


@pytest.fixture(autouse=True)
def _no_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLI_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_board(make_sim: MakeSim) -> Iterator[BoardFactory]:
    """`make_board(**sim_config)`: a board with its own IMEI (fast unless told), served on a pty until teardown."""
    stack = contextlib.ExitStack()
    count = 0

    def factory(**config: Any) -> Board:
        nonlocal count
        count += 1
        config.setdefault("imei", luhn_imei(f"35265610{count:06d}"))
        sim = make_sim(**config)
        return Board(sim, stack.enter_context(sim.serve_pty()))

    with stack:
        yield factory
