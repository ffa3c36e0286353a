"""Lost final results (the simulator's `lose_results` / `lose_probability` fault) through a real pty.

Behaviour only, never wall time: a lost answer to a read-only command (the setup queries included) is resynchronised
and the command sent again; a lost answer to a change is settled by reading the state; applies under a 25 % loss
rate converge within three runs and never claim a state the device does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import credwarden.api as cw
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.creds.encoding import match_digest
from credwarden.errors import CredwardenError
from credwarden.field.sample_manifest import write_campaign_manifest
from credwarden.provision.apply import apply
from credwarden.provision.manifest import load_manifest
from credwarden.provision.resolve import DeviceIdentity, resolve_manifest
from credwarden.sim import SimModem

#: Short waits (the simulator answers at once): a bare lost final still costs a full command timeout.
POLICY = TimeoutPolicy().scaled(0.2)
DIALECTS = ("at_client", "shell", "slm")


class LoseBefore:
    """Observer: lose the final result of the next command starting with `prefix` (once)."""

    def __init__(self, sim: SimModem, prefix: str) -> None:
        self.sim, self.prefix, self.armed = sim, prefix, True

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "command" and self.armed and str(data["command"]).startswith(self.prefix):
            self.armed = False
            self.sim.faults.lose_results = 1


@pytest.mark.parametrize("frontend", DIALECTS)
def test_lost_answer_to_the_dialect_probe_still_connects(make_sim: Callable[..., SimModem], frontend: str) -> None:
    sim = make_sim(frontend=frontend, profile="2.0.2")
    sim.faults.lose_results = 1  # the first command: AT+CMEE? (auto mode's probe)
    with sim.serve_pty() as path, cw.connect(path, timeouts=POLICY) as dev:
        assert dev.dialect == frontend
        assert dev.info().imei == sim.config.imei
    assert sim.faults.lose_results == 0  # the fault did fire


@pytest.mark.parametrize("frontend", DIALECTS)
@pytest.mark.parametrize("command", ["AT+CMEE?", "AT+CGSN", "AT%CMNG=1"])
def test_lost_answer_to_a_setup_query_is_retried(
    make_sim: Callable[..., SimModem], frontend: str, command: str, tmp_path: Path
) -> None:
    manifest = write_campaign_manifest(tmp_path)
    sim = make_sim(frontend=frontend, profile="2.0.2")
    with sim.serve_pty() as path, cw.connect(path, mode=frontend, timeouts=POLICY) as dev:
        if command == "AT+CMEE?":
            sim.faults.lose_results = 1
            # its `+CMEE:` line came: that alone proves the line in step, nothing to send again
            assert dev.session.read_cmee() == sim.ram.cmee
            assert (dev.stats.lost_answers, dev.stats.retries) == (1, 0)
        else:
            dev.add_observer(LoseBefore(sim, command))
        report = apply(dev, manifest, journal_dir=tmp_path / "journal")
        assert report.ok, report.to_json()
        assert dev.stats.lost_answers >= 1 and (command == "AT+CMEE?" or dev.stats.retries >= 1)
    assert _holds(sim, manifest)


def test_lost_answer_to_a_write_is_settled_by_the_listed_digest(
    make_sim: Callable[..., SimModem], tmp_path: Path
) -> None:
    manifest = write_campaign_manifest(tmp_path)
    sim = make_sim(profile="2.0.2")
    with sim.serve_pty() as path, cw.connect(path, timeouts=POLICY) as dev:
        dev.add_observer(LoseBefore(sim, "AT%CMNG=0"))
        report = apply(dev, manifest, journal_dir=tmp_path / "journal")
        assert report.ok, report.to_json()
        assert dev.stats.lost_answers == 1
    assert sim.store.nvm_writes == 5  # the write whose OK was lost is proven stored, never sent twice
    assert _holds(sim, manifest)


@pytest.mark.parametrize("frontend", DIALECTS)
def test_three_applies_converge_under_a_quarter_of_results_lost(
    make_sim: Callable[..., SimModem], frontend: str, tmp_path: Path
) -> None:
    manifest = write_campaign_manifest(tmp_path)
    sim = make_sim(frontend=frontend, profile="2.0.2", seed=11)
    sim.faults.lose_probability = 0.25
    outcomes: list[bool] = []
    with sim.serve_pty() as path:
        for _ in range(3):
            try:
                with cw.connect(path, timeouts=POLICY) as dev:
                    ok = apply(dev, manifest, journal_dir=tmp_path / "journal").ok
            except CredwardenError:
                ok = False
            assert not ok or _holds(sim, manifest), "a run claimed success the device does not hold"
            outcomes.append(ok)
    lost = int(sim.accounting.summary()["results_lost"])
    assert lost > 0  # the fault really fired
    assert _holds(sim, manifest) and outcomes[-1], outcomes


def _holds(sim: SimModem, manifest: Path) -> bool:
    """The simulator's store holds every credential of the manifest, byte-exact by digest."""
    desired = resolve_manifest(load_manifest(manifest), DeviceIdentity(dialect="at_client"))
    for item in desired:
        entry = sim.store.get(item.sec_tag, int(item.type))
        if entry is None or match_digest(item.credential.content, entry.sha) is None:
            return False
    return True
