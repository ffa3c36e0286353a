"""Type alias for the `make_sim` fixture of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable

from credwarden.sim import SimModem

MakeSim = Callable[..., SimModem]
