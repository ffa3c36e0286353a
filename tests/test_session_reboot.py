"""Reboots seen by the session: NCS/Zephyr boot lines, silent at_client reboots, late answers after a reboot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credwarden.at.response import is_boot_banner
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import DeviceRebooted
from credwarden.modem.device import Device
from credwarden.modem.dialect import Dialect
from credwarden.modem.session import AtSession
from credwarden.sim import SimConfig, SimModem
from credwarden.transport.scripted import ScriptedTransport
from credwarden.transport.simulated import inprocess

FAST = TimeoutPolicy.uniform(0.5).scaled(0.5)
LISTING = '%CMNG: 42,0,"AA"\r\nOK\r\n'


@pytest.mark.parametrize(
    "line",
    [
        "*** Booting nRF Connect SDK ***",
        "*** Booting nRF Connect SDK v2.6.0 ***",
        "*** Booting Zephyr OS build v3.5.99-ncs1 ***",
        "Ready",
        "INIT ERROR",
    ],
)
def test_boot_lines_are_banners(line: str) -> None:
    assert is_boot_banner(line)


@pytest.mark.parametrize("line", ["OK", "*** Booting", "Booting nRF Connect SDK", "%CMNG: 1,0", "*** Using Zephyr ***"])
def test_other_lines_are_not_banners(line: str) -> None:
    assert not is_boot_banner(line)


def _sim(frontend: str) -> tuple[SimModem, Device]:
    sim = SimModem(SimConfig(profile="2.0.2", frontend=frontend, fast=True))  # type: ignore[arg-type]
    sim.execute("AT+CFUN=1")  # found online: the session must leave it online
    return sim, Device.over(inprocess(sim), mode=frontend, timeouts=FAST)


@pytest.mark.parametrize("frontend", ["shell", "slm"])
def test_reboot_between_commands_restores_cmee_and_found_cfun(frontend: str) -> None:
    sim, dev = _sim(frontend)
    events: list[tuple[str, dict[str, Any]]] = []
    dev.add_observer(lambda event, data: events.append((event, data)))
    try:
        assert dev.info().cfun == 1  # the mode is read when something needs it (here: info)
        sim.restart()
        assert sim.ram.cfun != 1
        with pytest.raises(DeviceRebooted):
            dev.list()
        dev.reestablish()
        assert sim.ram.cfun == 1  # found mode, not the boot mode
        assert dev.session.cmee == sim.ram.cmee  # read again by the probe (and turned on for the CFUN change)
        assert dev.stats.reboots == 1 and [e for e, _ in events].count("reboot") == 1
        assert dev.list() is not None
        dev.write(9, 4, b"identity-9")
        assert (sim.ram.cmee, sim.ram.cfun) == (1, 1)
    finally:
        dev.close()
        sim.stop()


def test_shell_reboot_within_an_offline_block_leaves_cfun_as_found() -> None:
    sim, dev = _sim("shell")
    try:
        with pytest.raises(DeviceRebooted), dev.offline():
            assert sim.ram.cfun == 4
            sim.restart()
            dev.list()
        assert sim.ram.cfun == 1
        dev.reestablish()
        assert (sim.ram.cmee, sim.ram.cfun) == (1, 1)
    finally:
        dev.close()
        sim.stop()


def test_silent_at_client_reboot_is_found_at_the_end_of_the_offline_block() -> None:
    sim, dev = _sim("at_client")
    events: list[tuple[str, dict[str, Any]]] = []
    dev.add_observer(lambda event, data: events.append((event, data)))
    try:
        with dev.offline():
            sim.restart()  # no banner: CMEE and CFUN silently back to their defaults
            dev.list()
        assert (sim.ram.cmee, sim.ram.cfun) == (1, 1)
        assert dev.stats.reboots == 1
        assert any(e == "reboot" and d.get("silent") for e, d in events)
    finally:
        dev.close()
        sim.stop()


def test_explicit_cfun_change_becomes_the_mode_kept() -> None:
    sim, dev = _sim("at_client")
    try:
        dev.at("AT+CFUN=4")
        with dev.offline():
            pass
        assert sim.ram.cfun == 4
    finally:
        dev.close()
        sim.stop()


class LateAnswer:
    """A scripted SLM that reboots during `AT+CGMR`; the interrupted command's answer arrives late."""

    def __init__(self, late: str) -> None:
        self.late = late
        self.rebooted = False

    def __call__(self, data: bytes) -> bytes:
        command = data.decode("latin-1").strip()
        if command == "AT+CGMR":
            self.rebooted = True
            return b"\r\nReady\r\n"
        answer = {
            "AT": "\r\nOK\r\n",
            "AT+CMEE?": "\r\n+CMEE: 0\r\n\r\nOK\r\n",
            "AT%CMNG=1": "\r\n" + LISTING.replace("\r\nOK", "\r\n\r\nOK"),
        }.get(command, "\r\nERROR\r\n")
        late, self.late = (self.late, "") if self.rebooted else ("", self.late)
        return (late + answer).encode("latin-1")  # the late answer comes before the answer to what was just sent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    late=st.sampled_from(
        [
            "\r\nOK\r\n",
            "\r\nERROR\r\n",
            "\r\n+CME ERROR: 513\r\n",
            '\r\n%CMNG: 7,0,"BB"\r\n\r\nOK\r\n',
            "\r\n+CGMR: x\r\n\r\nOK\r\n",
        ]
    ),
    chunks=st.lists(st.integers(1, 12), max_size=40),
)
def test_late_answer_after_reboot_is_not_taken_for_the_next_one(late: str, chunks: list[int]) -> None:
    script = LateAnswer(late)
    session = AtSession(ScriptedTransport(script, chunks), Dialect("slm"), timeouts=FAST)
    assert session.command("AT").ok
    with pytest.raises(DeviceRebooted):
        session.command("AT+CGMR")
    answer = session.command("AT%CMNG=1")
    assert answer.lines == ('%CMNG: 42,0,"AA"',)
    sent = [w.decode().strip() for w in session.transport.written]  # type: ignore[attr-defined]
    assert sent[-2:] == ["AT+CMEE?", "AT%CMNG=1"]  # the tagged probe went first


def test_timeout_resync_drains_the_probe_answer_behind_a_late_ok() -> None:
    """A late OK of the timed-out command answers the `AT` probe; the probe's own OK must not answer the next."""
    state = {"slow": True}

    def respond(data: bytes) -> bytes:
        command = data.decode().strip()
        if command == "AT+SLOW":
            return b""
        if command == "AT" and state.pop("slow", False):
            return b"OK\r\nOK\r\n"  # late OK of AT+SLOW, then the probe's
        return {"AT%CMNG=1": LISTING}.get(command, "OK\r\n").encode()

    session = AtSession(ScriptedTransport(respond), Dialect("at_client"), timeouts=FAST)
    with pytest.raises(TimeoutError):
        session.command("AT+SLOW")
    assert session.command("AT%CMNG=1").lines == ('%CMNG: 42,0,"AA"',)
