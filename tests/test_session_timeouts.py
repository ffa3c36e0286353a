"""TimeoutPolicy: per-kind timeouts, scaling / capping knobs, and the session honouring them (recovery included)."""

from __future__ import annotations

import time

import pytest

from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import DeviceTimeout
from credwarden.modem.device import Device
from credwarden.transport.scripted import ScriptedTransport, answer_table

GUARD_ANSWERS = {"AT": "OK\r\n", "AT+CMEE?": "+CMEE: 1\r\nOK\r\n", "AT+CFUN?": "+CFUN: 4\r\nOK\r\n"}


def test_per_command_kinds() -> None:
    policy = TimeoutPolicy()
    assert policy.for_command("AT") == 5.0
    assert policy.for_command("AT%KEYGEN=16842753,2,0") == 30.0
    assert policy.for_command("AT%ATTESTTOKEN") == 15.0
    assert policy.for_command("AT+CFUN=4") == 15.0
    assert policy.for_command("AT+CFUN?") == 5.0
    assert policy.for_command("AT%CMNG=1") == 10.0
    assert policy.for_command("AT%CMNG=2,16842753,0") == 10.0
    write = 'AT%CMNG=0,1,0,"' + "A" * 2048 + '"'
    assert policy.for_command(write) == pytest.approx(5.0 + len(write) / 1024)


def test_with_base_keeps_slow_kinds_at_least_base() -> None:
    policy = TimeoutPolicy().with_base(20.0)
    assert policy.for_command("AT+CFUN=4") == 20.0
    assert policy.for_command("AT%KEYGEN=1,2,0") == 30.0
    assert TimeoutPolicy().with_base(None) == TimeoutPolicy()


def test_scaled_shortens_everything_but_the_probe_count() -> None:
    policy = TimeoutPolicy().scaled(0.1)
    assert policy.for_command("AT%CMNG=1") == pytest.approx(1.0)
    assert policy.for_command("AT+CFUN=4") == pytest.approx(1.5)
    assert policy.for_command("AT%KEYGEN=1,2,0") == pytest.approx(3.0)
    assert policy.resync_probe == pytest.approx(0.05)
    assert policy.drain_max == pytest.approx(0.2)
    assert policy.resync_probes == 3
    with pytest.raises(ValueError):
        TimeoutPolicy().scaled(0)


def test_capped_and_uniform() -> None:
    capped = TimeoutPolicy().capped(2.0)
    assert max(capped.for_command(c) for c in ("AT", "AT%KEYGEN=1,2,0", "AT+CFUN=1", "AT%CMNG=1")) == 2.0
    assert capped.drain_max == 2.0 and capped.resync_probe == 0.5
    uniform = TimeoutPolicy.uniform(0.4)
    assert {uniform.for_command(c) for c in ("AT", "AT%KEYGEN=1,2,0", "AT+CFUN=1", "AT%CMNG=1")} == {0.4}
    assert uniform.worst_resync <= 0.4 + 3 * 0.8
    with pytest.raises(ValueError):
        TimeoutPolicy(base=-1)


def test_device_over_applies_the_whole_policy_to_slow_commands_and_resync() -> None:
    """A lost CFUN=4 answer and a silent line afterwards: the scaled policy bounds the whole failure."""
    answers = dict(GUARD_ANSWERS, **{"AT+CFUN?": "+CFUN: 1\r\nOK\r\n"})
    respond = answer_table(answers)
    went_silent: list[bytes] = []

    def responder(data: bytes) -> bytes:
        if data.startswith(b"AT+CFUN=4"):
            went_silent.append(data)  # the modem stops answering from here on
        return b"" if went_silent else respond(data)

    transport = ScriptedTransport(responder)
    policy = TimeoutPolicy().scaled(0.02)  # CFUN set 0.3 s, probes 10 ms, drains <= 40 ms
    device = Device.over(transport, mode="at_client", timeouts=policy)
    assert device.session.timeouts == policy
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        device.delete(1, 0)
    elapsed = time.monotonic() - started
    assert "0.3 s" in str(caught.value)
    assert elapsed < 0.3 + 2 * policy.worst_resync + 1.0  # default policy would need 15 s + 3 probes
    sent = [w.decode().strip() for w in transport.written]
    after_timeout = sent[sent.index("AT+CFUN=4") + 1 :]
    assert after_timeout[: policy.resync_probes] == ["AT+CMEE?"] * policy.resync_probes  # resync before anything else


def test_explicit_timeout_still_sets_base_on_top_of_a_policy() -> None:
    transport = ScriptedTransport(answer_table(GUARD_ANSWERS))
    device = Device.over(transport, mode="at_client", timeout=0.7, timeouts=TimeoutPolicy.uniform(0.2))
    assert device.session.timeouts.base == 0.7
    assert device.session.timeouts.for_command("AT%CMNG=1") == 0.7
