"""Random bytes through every front-end on a real pty never break the simulator: an AT command still answers.

One simulator per front-end serves every hypothesis example (a module-scoped rig); each example gets a fresh pty
on a restarted modem (RAM state reset, the store kept), so no byte an earlier example left in flight can reach it.
After a failing example the simulator is rebuilt, so shrinking never runs on a simulator an earlier example broke.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.rawclient import RawPort

from credwarden.sim import SimConfig, SimModem

FRONTENDS = ("at_client", "shell", "slm")

NOISE = st.binary(min_size=1, max_size=300) | st.lists(
    st.sampled_from([b"AT", b"%CMNG=", b'"', b",", b"\r", b"\n", b"\x08", b"\x1b[", b"0", b"1", b"#XCMNG=", b"at "]),
    max_size=40,
).map(b"".join)


class FuzzRig:
    """A simulator of one front-end, reused across examples; each example talks to it through its own pty."""

    def __init__(self, frontend: str) -> None:
        self.frontend = frontend
        self.broken = False
        self.sim = self._new_sim()
        self._example = ExitStack()
        self.port: RawPort | None = None

    def _new_sim(self) -> SimModem:
        return SimModem(SimConfig(frontend=self.frontend, profile="2.0.2", shell_color=False, fast=True))  # type: ignore[arg-type]

    def answer_pattern(self) -> re.Pattern[bytes]:
        """The answer to `AT+CGSN` (the IMEI, then OK): nothing the noise itself can make the modem print."""
        imei = re.escape(self.sim.identity.imei.encode())
        tail = rb"OK\r\n\r\nuart:~\$ $" if self.frontend == "shell" else rb"OK\r\n$"
        return re.compile(imei + rb"\r\n(?:\r\n)?" + tail)

    def answers(self, *, after_noise: bool = True) -> bool:
        """Resynchronise the front-end whatever the noise left behind, then `AT+CGSN` must answer."""
        assert self.port is not None
        end = b"\r\n" if self.frontend == "slm" else b"\r"
        if self.frontend == "shell":
            resync = b"z\rat AT+CGSN\r"  # `z` ends an escape sequence, CR the line (quotes never span lines)
        elif not after_noise:
            resync = end + b"AT+CGSN" + end
        else:
            # quote-aware termination: if the noise left a quote open, `end AT+CGSN end` is inside it and `"`
            # closes it; if not, the first `AT+CGSN` answers and the rest is dropped with this example's pty
            resync = end + b"AT+CGSN" + end + b'"' + end + b"AT+CGSN" + end
        self.port.write(resync)
        return self.answer_pattern().search(self.port.read_until(self.answer_pattern(), timeout=2.0)) is not None

    def next_example(self) -> None:
        """Start an example on a fresh pty of a restarted, responsive modem (rebuilt if the last example failed)."""
        self._example.close()
        if self.broken:
            self.sim.stop()
            self.sim = self._new_sim()
            self.broken = False
        else:
            self.sim.restart()
        path = self._example.enter_context(self.sim.serve_pty())
        self.port = self._example.enter_context(RawPort(path))
        if not self.answers(after_noise=False):
            raise AssertionError(f"{self.frontend}: no answer after a restart")

    def close(self) -> None:
        self._example.close()
        self.sim.stop()


@pytest.fixture(scope="module")
def rigs() -> Iterator[dict[str, FuzzRig]]:
    """Rigs by front-end, built on first use, shared by the whole module."""
    built: dict[str, FuzzRig] = {}
    yield built
    for rig in built.values():
        rig.close()


@pytest.mark.parametrize("frontend", FRONTENDS)
@settings(max_examples=25, deadline=None)
@given(noise=NOISE)
def test_random_bytes_never_break_the_frontend(rigs: dict[str, FuzzRig], frontend: str, noise: bytes) -> None:
    if frontend not in rigs:
        rigs[frontend] = FuzzRig(frontend)
    rig = rigs[frontend]
    rig.next_example()
    assert rig.port is not None
    try:
        rig.port.write(noise)
        assert rig.answers(), f"{frontend}: no answer after {noise!r}"
    except BaseException:
        rig.broken = True
        raise
