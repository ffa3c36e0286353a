"""`sim://[STATE_FILE][?profile=..&frontend=..&nvm_write_ms=..]`: an in-process simulated modem (Transport contract).

Latency keys (milliseconds) are the simulator's `TIMING_OPTIONS`: turnaround_ms, nvm_write_ms, nvm_per_kib_ms,
cfun_ms, keygen_ms, attest_ms. Without any, `fast` defaults to 1 (no latencies); with one, to 0.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from credwarden.errors import UsageError
from credwarden.transport.base import Transport

#: keep in sync with `credwarden.sim.config.TIMING_OPTIONS` (not imported: the sim loads lazily)
_LATENCY_KEYS = ("turnaround_ms", "nvm_write_ms", "nvm_per_kib_ms", "cfun_ms", "keygen_ms", "attest_ms")
_KNOWN_KEYS = frozenset({"profile", "frontend", "fast", *_LATENCY_KEYS})


@dataclass(frozen=True)
class SimSpec:
    """What a `sim://` URL asks for."""

    state_file: str | None
    profile: str | None
    frontend: str | None
    fast: bool
    latencies_ms: dict[str, float] = field(default_factory=dict)  #: latency key -> milliseconds


def parse_sim_url(url: str) -> SimSpec:
    """Parse `sim://[STATE_FILE][?profile=2.0.2&frontend=at_client&fast=1&keygen_ms=..]`; UsageError if bad."""
    if not url.startswith("sim://"):
        raise UsageError(f"not a sim:// URL: {url!r}")
    parts = urlsplit(url)
    path = unquote(url[len("sim://") :].split("?", 1)[0])
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _KNOWN_KEYS)
    if unknown:
        raise UsageError(f"unknown sim:// option(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}")

    def one(key: str) -> str | None:
        values = query.get(key)
        return values[-1] if values else None

    latencies: dict[str, float] = {}
    for key in _LATENCY_KEYS:
        text = one(key)
        if text is None:
            continue
        try:
            latencies[key] = float(text)
        except ValueError:
            raise UsageError(f"sim:// option {key}={text!r} is not a number of milliseconds") from None
    fast_text = one("fast")
    fast = (fast_text or ("0" if latencies else "1")).lower() not in ("0", "false", "no")
    if fast and latencies:
        raise UsageError(f"sim:// fast=1 turns every latency off; it cannot be combined with {', '.join(latencies)}")
    return SimSpec(
        state_file=path or None, profile=one("profile"), frontend=one("frontend"), fast=fast, latencies_ms=latencies
    )


def open_sim(url: str) -> Transport:
    """Start a simulator for `url` and return a Transport connected to it."""
    spec = parse_sim_url(url)
    sim_module = importlib.import_module("credwarden.sim")
    sim_config, sim_modem = sim_module.SimConfig, sim_module.SimModem
    kwargs: dict[str, object] = {"state_file": spec.state_file, "fast": spec.fast}
    if spec.profile:
        kwargs["profile"] = spec.profile
    if spec.frontend:
        kwargs["frontend"] = spec.frontend
    try:
        if spec.latencies_ms:
            kwargs["timing"] = sim_module.timing_from_ms(spec.latencies_ms)
        config = sim_config(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{url}: {exc}") from exc
    modem = sim_modem(config)
    return SimTransport(inprocess(modem), modem, url)


def inprocess(modem: Any) -> Transport:
    """A Transport connected to a running `SimModem` through a socketpair (the simulator serves the other end)."""
    from credwarden.transport.socketpair import SocketTransport

    return SocketTransport(modem.open_socket(), name=f"sim://inprocess?profile={modem.profile_name}")


class SimTransport:
    """The in-process simulator's transport; closing it also stops the simulator (saving its state file)."""

    def __init__(self, inner: Transport, modem: Any, name: str) -> None:
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
