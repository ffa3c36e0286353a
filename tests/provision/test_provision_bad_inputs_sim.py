"""The bad-input corpus against the simulator through a pty: every case is refused and no write reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provision_pki import Pki
from test_provision_bad_inputs import CASES, ENV, Case

from credwarden.api import connect
from credwarden.errors import ValidationError
from credwarden.modem.device import Device
from credwarden.provision import apply
from credwarden.sim import SimConfig, SimModem


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def device() -> Iterator[tuple[SimModem, Device]]:
    sim = SimModem(SimConfig(profile="2.0.2", frontend="at_client", fast=True))
    with sim, sim.serve_pty() as path, connect(path, mode="at_client", timeout=2.0) as dev:
        yield sim, dev


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_never_reaches_the_device(
    pki: Pki, case: Case, tmp_path: Path, device: tuple[SimModem, Device]
) -> None:
    sim, dev = device
    (tmp_path / "manifest.toml").write_text(case.build(pki, tmp_path))
    before = len(sim.accounting.records)
    with pytest.raises(ValidationError) as info:
        apply(dev, tmp_path / "manifest.toml", env=ENV)
    assert (case.sim_message or case.message) in str(info.value)
    assert sim.store.nvm_writes == 0
    kinds = [r.kind for r in sim.accounting.records[before:]]
    assert not [k for k in kinds if k.startswith(("%CMNG=0", "%CMNG=3", "#XCMNG", "+CFUN="))], kinds
