"""The NCS shell's 2700-byte response buffer against a big list: a clear error, and the per-tag way out."""

from __future__ import annotations

import pytest
from tests.conftest import MakeSim

from credwarden.errors import ExitCode, ProtocolError
from credwarden.modem.device import Device
from credwarden.transport.simulated import inprocess

CA = "-----BEGIN CERTIFICATE-----\\nMIIB{index:04d}\\n-----END CERTIFICATE-----\\n"


def test_overflowing_shell_list_is_a_clear_error_and_per_tag_lists_work(make_sim: MakeSim) -> None:
    sim = make_sim(frontend="shell")
    for index in range(40):  # 40 entries + 3 factory ones: ~4 KB of list output
        assert sim.execute(f'AT%CMNG=0,{1000 + index},0,"{CA.format(index=index)}"').endswith("OK\r\n")
    with Device.over(inprocess(sim), mode="auto") as dev:
        assert dev.dialect == "shell"
        with pytest.raises(ProtocolError, match=r"2700 bytes.*--tag") as caught:
            dev.list()
        assert caught.value.exit_code == ExitCode.MODEM_REFUSED
        entries = dev.list(sec_tag=1007)  # the session is still usable, and per-tag lists fit
        assert [(e.sec_tag, e.type) for e in entries] == [(1007, 0)]
