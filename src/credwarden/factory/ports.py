"""Which ports a batch covers: explicit ports plus glob patterns, and a watcher for boards plugged in later.

Globs are matched against the filesystem (`/dev/serial/by-id/*Nordic*`); a dangling symlink (board unplugged)
counts as absent. Two names of the same device (a by-id and a by-path symlink) are provisioned once.
Explicit ports are never gated on existence: a missing one ends as an `unreachable` row.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable, Sequence

#: How often watch mode looks at the filesystem (seconds).
DEFAULT_POLL_INTERVAL = 0.5


def _is_url(port: str) -> bool:
    return "://" in port


def _identity(port: str) -> str:
    """The device a port name refers to (symlinks resolved) for de-duplication."""
    if _is_url(port):
        return port
    try:
        return os.path.realpath(port)
    except OSError:
        return port


def match_globs(patterns: Iterable[str]) -> list[str]:
    """Existing paths matching any pattern (sorted per pattern, patterns in order, no dangling symlinks)."""
    out: list[str] = []
    for pattern in patterns:
        out.extend(path for path in sorted(glob.glob(pattern)) if os.path.exists(path))
    return out


def expand_ports(ports: Sequence[str], patterns: Sequence[str] = ()) -> list[str]:
    """Explicit ports (as given) then glob matches, without duplicates (same device = same port)."""
    seen: set[str] = set()
    out: list[str] = []
    for port in [*ports, *match_globs(patterns)]:
        key = _identity(port)
        if key in seen:
            continue
        seen.add(key)
        out.append(port)
    return out


class PortWatcher:
    """Reports ports that appear (plugged in) and disappear (unplugged) under glob patterns.

    Polls the filesystem every `interval` seconds while waiting (no busy loop). A port is reported as new
    once per appearance: unplug and plug again to have it reported again.
    """

    def __init__(self, patterns: Sequence[str], *, interval: float = DEFAULT_POLL_INTERVAL) -> None:
        if not patterns:
            raise ValueError("watch mode needs at least one glob pattern")
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        self.patterns = list(patterns)
        self.interval = interval
        self._present: dict[str, str] = {}  #: port name -> device identity

    @property
    def present(self) -> list[str]:
        return list(self._present)

    def poll(self) -> tuple[list[str], list[str]]:
        """One look at the filesystem: (ports that appeared, ports that disappeared) since the last look."""
        now = {port: _identity(port) for port in match_globs(self.patterns)}
        gone = [port for port in self._present if port not in now]
        known = {ident for port, ident in self._present.items() if port in now}
        appeared: list[str] = []
        for port, ident in now.items():
            if port in self._present:
                continue
            if ident not in known:  # not another name of a device already present
                appeared.append(port)
            known.add(ident)
        self._present = now
        return appeared, gone

    def wait_for_new(self, stop: threading.Event, timeout: float | None = None) -> list[str]:
        """Block until new ports appear, `stop` is set, or `timeout` passes; return the new ports."""
        waited = 0.0
        while not stop.is_set():
            appeared, _gone = self.poll()
            if appeared:
                return appeared
            if timeout is not None and waited >= timeout:
                return []
            stop.wait(self.interval)
            waited += self.interval
        return []
