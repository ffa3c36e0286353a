"""Errors that point at the cause, through a real pty: a wrong `--mode`, a port that only echoes, a bare `ERROR`
explained by what the session knows (numeric errors on or off, the firmware version)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import credwarden.api as cw
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import ExitCode, ModemError, TransportError, WrongMode
from credwarden.sim import SimModem

POLICY = TimeoutPolicy().scaled(0.2)
CREDWARDEN = [str(Path(sys.executable).with_name("credwarden"))]


@contextmanager
def echo_pty() -> Iterator[str]:
    """A pty whose other end sends back every byte it receives (like a loopback plug), nothing else."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    stop = threading.Event()

    def loop() -> None:
        import select

        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    os.write(master, os.read(master, 4096))
                except OSError:
                    return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(1)
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(("given", "actual"), [("shell", "at_client"), ("shell", "slm")])
def test_shell_mode_against_an_at_interface_names_the_right_mode(
    make_sim: Callable[..., SimModem], given: str, actual: str
) -> None:
    sim = make_sim(frontend=actual)
    with sim.serve_pty() as path, pytest.raises(WrongMode) as caught:
        cw.connect(path, mode=given, timeouts=POLICY)
    assert caught.value.suggested == actual
    assert f"--mode {actual}" in str(caught.value) and caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("given", ["at_client", "slm"])
def test_at_mode_against_a_shell_names_the_shell(make_sim: Callable[..., SimModem], given: str) -> None:
    sim = make_sim(frontend="shell")
    with sim.serve_pty() as path, pytest.raises(WrongMode) as caught:
        cw.connect(path, mode=given, timeouts=POLICY)
    assert caught.value.suggested == "shell"
    assert "command not found" in str(caught.value) and "--mode shell" in str(caught.value)


@pytest.mark.parametrize("mode", ["auto", "at_client", "shell", "slm"])
def test_an_echoing_port_is_a_transport_error_with_what_was_heard(mode: str) -> None:
    with echo_pty() as path, pytest.raises(TransportError) as caught:
        cw.connect(path, mode=mode, timeouts=POLICY)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.TRANSPORT
    assert "loopback" in message and "AT+CMEE?" in message


def test_cli_reports_an_echoing_port_with_exit_3_and_a_wrong_mode_with_exit_2(
    make_sim: Callable[..., SimModem], tmp_path: Path
) -> None:
    env = dict(os.environ, CREDWARDEN_DB=str(tmp_path / "inv.db"), CREDWARDEN_STATE_DIR=str(tmp_path / "state"))
    with echo_pty() as path:
        echoed = subprocess.run([*CREDWARDEN, "list", "--port", path], capture_output=True, text=True, env=env)
    assert echoed.returncode == 3, echoed.stderr
    assert "loopback" in echoed.stderr and "Traceback" not in echoed.stderr
    sim = make_sim(frontend="shell")
    with sim.serve_pty() as path:
        wrong = subprocess.run(
            [*CREDWARDEN, "list", "--port", path, "--mode", "at_client"], capture_output=True, text=True, env=env
        )
    assert wrong.returncode == 2, wrong.stderr
    assert "--mode shell" in wrong.stderr


def test_bare_error_with_numeric_errors_on_does_not_ask_to_enable_them(make_sim: Callable[..., SimModem]) -> None:
    sim = make_sim()
    with sim.serve_pty() as path, cw.connect(path, timeouts=POLICY) as dev:
        with pytest.raises(ModemError) as caught:
            dev.at("AT+NOSUCHCOMMAND?")  # a query: answered ERROR, numeric errors go on, still a bare ERROR
        assert dev.session.cmee == 1 == sim.ram.cmee
    assert caught.value.code is None
    assert "AT+CMEE=1" not in caught.value.hint and "numeric errors are on" in str(caught.value)


def test_bare_error_with_numeric_errors_off_says_so() -> None:
    from credwarden.modem.device import Device
    from credwarden.transport.scripted import ScriptedTransport, answer_table

    answers = {"AT+CMEE?": "+CMEE: 0\r\nOK\r\n", "AT+CMEE=1": "ERROR\r\n"}  # a firmware refusing numeric errors
    dev = Device.over(ScriptedTransport(answer_table(answers)), mode="at_client")
    with dev, pytest.raises(ModemError) as caught:
        dev.at("AT+CFUN=4")
    assert "refuses AT+CMEE=1" in caught.value.hint
    plain = ModemError(None, command="AT+X")  # no session knowledge: the generic advice
    assert "AT+CMEE=1" in plain.hint


@pytest.mark.parametrize("profile", ["1.0.2", "1.2.3"])
def test_keygen_on_firmware_before_1_3_says_so(make_sim: Callable[..., SimModem], profile: str) -> None:
    sim = make_sim(profile=profile)
    with sim.serve_pty() as path, cw.connect(path, timeouts=POLICY) as dev, pytest.raises(ModemError) as caught:
        dev.keygen(42)
    message = str(caught.value)
    assert "%KEYGEN" in message and "1.3.0" in message and profile in message
    assert "AT+CMEE=1" not in message


@pytest.mark.parametrize("mode", ["at_client", "shell", "slm"])
def test_a_silent_port_with_a_given_mode_is_reported_after_one_probe(mode: str) -> None:
    from credwarden.errors import DeviceTimeout

    master, slave = os.openpty()
    try:
        with pytest.raises(DeviceTimeout) as caught:
            cw.connect(os.ttyname(slave), mode=mode, timeout=0.3)
    finally:
        os.close(master)
        os.close(slave)
    message = str(caught.value)
    assert "no answer to AT+CMEE?" in message and f"runs the {mode} front-end" in message
