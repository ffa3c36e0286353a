"""The canary catches the simulator's wipe fault (modem-behaviour.md#field-reports) at the right cycle (pty)."""

from __future__ import annotations

from credwarden.api import connect
from credwarden.errors import ExitCode
from credwarden.field.canary import SCRATCH_TYPE, plan_canary, run_canary
from credwarden.modem.device import Device
from credwarden.transport.simulated import inprocess

from .conftest_types import MakeSim
from .pki import cert_pem, ec_key


def _seed(device: Device) -> None:
    key = ec_key()
    device.write(42, 0, cert_pem("root", key, ca=True))
    device.write(42, 4, b"device-42")
    device.write(43, 4, b"device-43")


def test_canary_catches_the_wipe_fault_on_a_pty(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2")
    sim.execute("AT+CFUN=1")
    with sim.serve_pty() as path, connect(path, mode="at_client", timeout=2.0) as dev:
        _seed(dev)
        writes_before = sim.store.nvm_writes
        sim.faults.wipe_tag, sim.faults.wipe_after = 42, 7
        result = run_canary(dev, plan_canary(900, (42, 43), 50))
    assert not result.clean and result.exit_code is ExitCode.VERIFICATION
    assert result.changed_at_cycle == 7
    assert sorted((c.sec_tag, c.type, c.kind) for c in result.changes) == [(42, 0, "vanished"), (42, 4, "vanished")]
    assert result.nvm_writes_at_change == 7
    assert result.nvm_writes == 8 == sim.store.nvm_writes - writes_before  # + the scratch entry's cleanup
    assert sim.ram.cfun == 1  # the original mode is restored


def test_clean_canary_writes_every_cycle_and_cleans_up(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5")
    dev = Device.over(inprocess(sim), mode="at_client", timeout=2.0)
    with dev:
        _seed(dev)
        result = run_canary(dev, plan_canary(900, (42, 43), 12))
    assert result.clean and result.cycles_done == 12
    assert sim.store.writes_of(900, SCRATCH_TYPE) == 12
    assert sim.store.get(900, SCRATCH_TYPE) is None
