"""Benchmarks never touch the user's inventory, write journal or configuration: everything under a temporary root.

`private_environment(root)` is the environment for processes a benchmark starts (`credwarden ...`), and
`use_private_environment(root)` applies it to the benchmark's own process as well (in-process API calls that
record or journal, and every child started afterwards).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Variables that would point a run at a real device instead of the benchmark's simulator.
_DEVICE_VARIABLES = ("CREDWARDEN_PORT", "CREDWARDEN_MODE", "CREDWARDEN_BAUD")


def private_environment(root: Path) -> dict[str, str]:
    """os.environ with the inventory, the write journal and the XDG directories inside `root`."""
    env = {k: v for k, v in os.environ.items() if k not in _DEVICE_VARIABLES}
    env.update(
        CREDWARDEN_DB=str(root / "inventory.db"),
        CREDWARDEN_STATE_DIR=str(root / "state"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_STATE_HOME=str(root / "xdg-state"),
        XDG_CONFIG_HOME=str(root / "xdg-config"),
    )
    return env


def use_private_environment(root: Path) -> None:
    """Apply `private_environment(root)` to this process (and so to every child it starts from now on)."""
    for name in _DEVICE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(private_environment(root))
