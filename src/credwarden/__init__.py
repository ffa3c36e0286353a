"""credwarden: keep the TLS credentials inside Nordic nRF91 modems correct and alive."""

from __future__ import annotations

__version__ = "0.2.0"
