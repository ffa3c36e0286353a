"""Tier 4: read-only checks against a real nRF91 board (set CREDWARDEN_HW_PORT, e.g. /dev/ttyACM0)."""

from __future__ import annotations

import os

import pytest

import credwarden.api as cw

HW_PORT = os.environ.get("CREDWARDEN_HW_PORT")

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(not HW_PORT, reason="no board: set CREDWARDEN_HW_PORT=/dev/ttyACM0 (or auto) to run"),
]


def test_info_on_hardware() -> None:
    assert HW_PORT
    with cw.connect(HW_PORT, mode=os.environ.get("CREDWARDEN_HW_MODE", "auto")) as dev:
        info = dev.info()
        assert info.imei and len(info.imei) == 15
        assert info.firmware and info.firmware.startswith("mfw")
        assert info.cfun is not None


def test_list_on_hardware_does_not_change_cfun() -> None:
    assert HW_PORT
    with cw.connect(HW_PORT, mode=os.environ.get("CREDWARDEN_HW_MODE", "auto")) as dev:
        before = dev.info().cfun
        entries = dev.list()
        assert all(e.sec_tag >= 0 and e.type >= 0 for e in entries)
        assert dev.info().cfun == before
