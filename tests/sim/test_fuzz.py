"""Random bytes through every front-end on a real pty never break the simulator: `AT` still answers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import MakeSim
from tests.sim.rawclient import RawPort

NOISE = st.binary(min_size=1, max_size=300) | st.lists(
    st.sampled_from([b"AT", b"%CMNG=", b'"', b",", b"\r", b"\n", b"\x08", b"\x1b[", b"0", b"1", b"#XCMNG=", b"at "]),
    max_size=40,
).map(b"".join)


def _answers(port: RawPort, frontend: str) -> bool:
    if frontend == "shell":
        port.write(b"z\r")  # ends an escape sequence and the line
        port.collect(0.02)
        port.write(b"at AT\r")
        return port.read_until(b"OK\r\n\r\nuart:~$ ", timeout=1.0).endswith(b"OK\r\n\r\nuart:~$ ")
    end = b"\r\n" if frontend == "slm" else b"\r"
    for resync in (end, b'"' + end):  # close a quote the noise may have left open
        port.write(resync + b"AT" + end)
        if port.read_until(b"OK\r\n", timeout=0.5).endswith(b"OK\r\n"):
            return True
    return False


@pytest.mark.parametrize("frontend", ["at_client", "shell", "slm"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=NOISE)
def test_random_bytes_never_break_the_frontend(make_sim: MakeSim, frontend: str, noise: bytes) -> None:
    sim = make_sim(frontend=frontend, profile="2.0.2", shell_color=False)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.write(noise)
        port.collect(0.02)
        assert _answers(port, frontend)
