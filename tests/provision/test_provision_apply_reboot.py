"""A reboot while apply is still planning (identify, list) re-establishes the session and plans once more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from provision_pki import Pki, manifest_text

from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import DeviceRebooted
from credwarden.modem.device import Device
from credwarden.provision import apply
from credwarden.sim import SimConfig, SimModem
from credwarden.transport.simulated import inprocess


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    Pki().write(tmp_path)
    (tmp_path / "m.toml").write_text(manifest_text())
    return tmp_path / "m.toml"


class RebootBefore:
    """Observer: restart the simulator just before the `times`-th matching command(s) reach it."""

    def __init__(self, sim: SimModem, prefix: str, times: int = 1) -> None:
        self.sim, self.prefix, self.left = sim, prefix, times

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "command" and self.left and str(data["command"]).startswith(self.prefix):
            self.left -= 1
            self.sim.restart()


@pytest.mark.parametrize(("frontend", "prefix"), [("slm", "AT%CMNG=1"), ("shell", "AT%CMNG=1"), ("slm", "AT+CGMR")])
def test_reboot_while_planning_plans_again(manifest: Path, frontend: str, prefix: str) -> None:
    sim = SimModem(SimConfig(profile="2.0.2", frontend=frontend, fast=True))  # type: ignore[arg-type]
    sim.execute("AT+CFUN=1")
    dev = Device.over(inprocess(sim), mode=frontend, timeouts=TimeoutPolicy.uniform(0.5))
    try:
        dev.add_observer(RebootBefore(sim, prefix))
        report = apply(dev, manifest)
        assert report.ok, report.to_json()
        assert {(e.sec_tag, e.type) for e in sim.store if e.sec_tag == 42} == {(42, 0), (42, 1), (42, 2)}
        assert dev.stats.reboots == 1 and (sim.ram.cmee, sim.ram.cfun) == (1, 1)
    finally:
        dev.close()
        sim.stop()


def test_second_reboot_while_planning_stops(manifest: Path) -> None:
    sim = SimModem(SimConfig(profile="2.0.2", frontend="slm", fast=True))
    dev = Device.over(inprocess(sim), mode="slm", timeouts=TimeoutPolicy.uniform(0.5))
    try:
        dev.add_observer(RebootBefore(sim, "AT%CMNG=1", times=2))
        with pytest.raises(DeviceRebooted):
            apply(dev, manifest)
        assert sim.store.nvm_writes == 0
    finally:
        dev.close()
        sim.stop()
