"""`sim://[STATE_FILE][?profile=..&frontend=..&nvm_write_ms=..]`: an in-process simulated modem (Transport contract).

Options: `profile`, `frontend`, and what `SimConfig.from_options` takes (`fast` and the latency keys of
`credwarden.sim.config.TIMING_OPTIONS`, in milliseconds). Without a latency key, `fast` defaults to 1 (no
latencies); with one, to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from credwarden.errors import UsageError
from credwarden.sim.config import TIMING_OPTIONS, SimConfig
from credwarden.sim.simulator import SimModem
from credwarden.transport.base import Transport

_FIELD_KEYS = ("profile", "frontend")  #: passed to `SimConfig` as they are
_KNOWN_KEYS = frozenset({*_FIELD_KEYS, "fast", *TIMING_OPTIONS})


@dataclass(frozen=True)
class SimSpec:
    """What a `sim://` URL asks for: the state file and a validated simulator configuration."""

    state_file: str | None
    config: SimConfig


def _spell(key: str) -> str:
    return "fast=1" if key == "fast" else key


def parse_sim_url(url: str) -> SimSpec:
    """Parse `sim://[STATE_FILE][?profile=2.0.2&frontend=at_client&fast=1&keygen_ms=..]`; UsageError if bad."""
    if not url.startswith("sim://"):
        raise UsageError(f"not a sim:// URL: {url!r}")
    parts = urlsplit(url)
    path = unquote(url[len("sim://") :].split("?", 1)[0])
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - _KNOWN_KEYS)
    if unknown:
        raise UsageError(f"unknown sim:// option(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}")
    fields = {key: query.pop(key) for key in _FIELD_KEYS if query.get(key)}
    query.pop("profile", None)
    query.pop("frontend", None)
    try:
        config = SimConfig.from_options(query, fast_by_default=True, spell=_spell, state_file=path or None, **fields)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"sim:// option: {exc}") from exc
    return SimSpec(state_file=path or None, config=config)


def open_sim(url: str) -> Transport:
    """Start a simulator for `url` and return a Transport connected to it."""
    spec = parse_sim_url(url)
    try:
        modem = SimModem(spec.config)
    except ValueError as exc:
        raise UsageError(f"{url}: {exc}") from exc
    return SimTransport(inprocess(modem), modem, url)


def inprocess(modem: SimModem) -> Transport:
    """A Transport connected to a running `SimModem` through a socketpair (the simulator serves the other end)."""
    from credwarden.transport.socketpair import SocketTransport

    return SocketTransport(modem.open_socket(), name=f"sim://inprocess?profile={modem.profile_name}")


class SimTransport:
    """The in-process simulator's transport; closing it also stops the simulator (saving its state file)."""

    def __init__(self, inner: Transport, modem: SimModem, name: str) -> None:
        self._inner = inner
        self.modem = modem  #: the `SimModem` (faults, store) for scripts and tests
        self.name = name

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def reset_input(self) -> None:
        self._inner.reset_input()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self.modem.stop()
