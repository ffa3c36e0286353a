"""Fixtures of the inventory tests: every test runs on SQLite and on a real PostgreSQL server.

The PostgreSQL variant needs CREDWARDEN_TEST_PG_URL (scripts/with-postgres.sh sets it; `make test` uses it).
Each PostgreSQL test gets its own schema (search_path), dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg_schema import private_schema

from credwarden.inventory import Inventory

PG_ENV = "CREDWARDEN_TEST_PG_URL"


def _pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {PG_ENV} (scripts/with-postgres.sh does it)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty inventory database URL (SQLite file, or a private PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inventory.db'}"
        return
    base = _pg_base_url()
    with private_schema(base, "t") as url:
        yield url


@pytest.fixture
def inv(db_url: str) -> Iterator[Inventory]:
    with Inventory.open(db_url) as inventory:
        yield inventory
