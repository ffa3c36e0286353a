"""Collector tests run on SQLite and on the real PostgreSQL server, like the inventory's (same fixtures)."""

from __future__ import annotations

from inventory.conftest import db_url, inv  # noqa: F401  (fixtures shared with the inventory tests)
