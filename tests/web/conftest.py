"""Fixtures of the dashboard tests: a known inventory on SQLite and on the real PostgreSQL server.

`fleet_db` writes eight devices with one known problem each (see `web_fleet.py`) through the inventory's own
API, then hands out the database URL; the dashboard opens it read-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg_schema import private_schema

from credwarden.inventory import Inventory

from .web_fleet import write_fleet

PG_ENV = "CREDWARDEN_TEST_PG_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh inventory database URL (SQLite file, or a private PostgreSQL schema dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "inventory.db")
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"no PostgreSQL server: set {PG_ENV} (scripts/with-postgres.sh does it)")
    with private_schema(base, "w") as url:
        yield url


@pytest.fixture
def fleet_db(empty_db: str) -> str:
    with Inventory.open(empty_db) as inv:
        write_fleet(inv)
    return empty_db
