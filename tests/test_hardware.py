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


def test_attestation_token_on_hardware() -> None:
    """Read-only: %ATTESTTOKEN exists from mfw 1.3 (9160) / 2.0 (91x1) and touches no NVM."""
    assert HW_PORT
    with cw.connect(HW_PORT, mode=os.environ.get("CREDWARDEN_HW_MODE", "auto")) as dev:
        info = dev.info()
        if info.firmware_version is None or info.firmware_version < (1, 3, 0):
            pytest.skip(f"firmware {info.firmware} has no %ATTESTTOKEN")
        token = dev.attest()
        assert len(token.device_uuid) == 36 and len(token.nonce) == 16
        assert dev.info().cfun == info.cfun


@pytest.mark.skipif(
    not os.environ.get("CREDWARDEN_HW_SCRATCH_TAG"),
    reason="writes NVM: set CREDWARDEN_HW_SCRATCH_TAG to a free sec_tag to allow one write + delete",
)
def test_write_verify_delete_round_trip_on_hardware() -> None:
    """One PSK identity written, listed with the predicted digest, read back, deleted; CFUN as found."""
    assert HW_PORT
    tag = int(os.environ["CREDWARDEN_HW_SCRATCH_TAG"])
    content = b"credwarden-hw-test"
    with cw.connect(HW_PORT, mode=os.environ.get("CREDWARDEN_HW_MODE", "auto")) as dev:
        cfun = dev.info().cfun
        assert dev.list(sec_tag=tag, type=4) == [], f"sec_tag {tag} type 4 is not free"
        dev.write(tag, 4, content)
        try:
            (entry,) = dev.list(sec_tag=tag, type=4)
            if not entry.placeholder_digest:
                import hashlib

                assert entry.sha256 == hashlib.sha256(dev.stored_form(content)).hexdigest().upper()
            assert dev.read(tag, 4).content == dev.stored_form(content)
        finally:
            dev.delete(tag, 4)
        assert dev.list(sec_tag=tag, type=4) == []
        assert dev.info().cfun == cfun
