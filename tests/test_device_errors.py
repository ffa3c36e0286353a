"""Every CME code (modem-behaviour.md#cme-codes), as a device answers it, becomes a specific exception with advice."""

from __future__ import annotations

import pytest

from credwarden.cme import cme_info
from credwarden.errors import (
    AlreadyExists,
    ExitCode,
    InvalidContent,
    MemoryFull,
    ModemError,
    ModemOnline,
    NoAccess,
    NotFound,
    PowerOffWarning,
)
from credwarden.modem.device import Device
from credwarden.transport.scripted import ScriptedTransport, answer_table

SPEC_2_10: dict[int, type[ModemError]] = {
    0: ModemError,
    23: ModemError,
    50: ModemError,
    60: ModemError,
    513: NotFound,
    514: NoAccess,
    515: MemoryFull,
    518: ModemOnline,
    519: AlreadyExists,
    527: InvalidContent,
    528: PowerOffWarning,
}


@pytest.mark.parametrize("code", sorted(SPEC_2_10))
def test_cme_answer_raises_specific_error_with_meaning_and_hint(code: int) -> None:
    answers = {
        "AT": "OK\r\n",
        "AT+CMEE?": "+CMEE: 1\r\nOK\r\n",
        "AT+CFUN?": "+CFUN: 4\r\nOK\r\n",
        "AT%CMNG=3,12,0": f"+CME ERROR: {code}\r\n",
    }
    device = Device.over(ScriptedTransport(answer_table(answers)), mode="at_client")
    with device as dev, pytest.raises(ModemError) as caught:
        dev.delete(12, "root-ca")
    error = caught.value
    assert type(error) is SPEC_2_10[code]
    assert error.code == code and error.exit_code == ExitCode.MODEM_REFUSED
    info = cme_info(code)
    assert info.meaning in str(error) and info.hint in str(error)
    assert "not documented" not in info.meaning
    assert str(error).startswith(f"+CME ERROR: {code} for AT%CMNG=3,12,0: ")
    if code == 518:
        assert "modem is online" in str(error)
