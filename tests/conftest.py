"""Shared pytest fixtures: simulated modems (in-process and on a real pseudo-terminal).

* `sim`: a fresh `SimModem(SimConfig(fast=True))`, stopped at teardown.
* `make_sim(**config)`: factory for more (`make_sim(profile="2.0.2", frontend="shell")`), all stopped at teardown.
* `sim_pty`: `(sim, path)` with the sim served on a pty for the duration of the test.

Hypothesis runs without its per-example deadline: on a loaded 2-core CI machine a slow example is not a failure
(a timing deadline there only makes a property test flaky); speed is measured by `bench/`, never by tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from credwarden.sim import SimConfig, SimModem

settings.register_profile("credwarden", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("credwarden")

MakeSim = Callable[..., SimModem]


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own CREDWARDEN_STATE_DIR (write journals), never the user's."""
    monkeypatch.setenv("CREDWARDEN_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _private_inventory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test records into its own inventory (CREDWARDEN_DB), never the user's."""
    monkeypatch.setenv("CREDWARDEN_DB", str(tmp_path_factory.mktemp("inventory") / "inventory.db"))


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """Build simulators from SimConfig keyword arguments (`fast=True` unless given); all stopped afterwards."""
    created: list[SimModem] = []

    def factory(**config: Any) -> SimModem:
        config.setdefault("fast", True)
        modem = SimModem(SimConfig(**config))
        created.append(modem)
        return modem

    yield factory
    for modem in created:
        modem.stop()


@pytest.fixture
def sim(make_sim: MakeSim) -> SimModem:
    """A fresh simulated modem (profile 1.3.5, at_client, no delays)."""
    return make_sim()


@pytest.fixture
def sim_pty(sim: SimModem) -> Iterator[tuple[SimModem, str]]:
    """`(sim, path)`: the `sim` fixture served on a pseudo-terminal."""
    with sim.serve_pty() as path:
        yield sim, path
