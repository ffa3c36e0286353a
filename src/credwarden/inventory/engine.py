"""SQLAlchemy engines for the inventory's read queries and migrations (the writers use driver connections).

Loaded only when a command reads or migrates: see `location` for where the database lives and `connect` for
how SQLite connections are configured (the same for the engine and the writer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from credwarden.inventory.connect import SQLITE_BUSY_TIMEOUT_MS, configure_sqlite
from credwarden.inventory.location import DbLocation


def location_url(location: DbLocation) -> URL:
    """The SQLAlchemy URL of a resolved location."""
    if location.sqlite_path is not None:
        return URL.create("sqlite", database=str(location.sqlite_path))
    return make_url(location.server_url or "")


def create_inventory_engine(url: URL) -> Engine:
    """An engine configured for the backend: SQLite WAL + busy timeout + explicit BEGIN; PostgreSQL pre-ping."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite_engine(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _configure_sqlite_engine(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        configure_sqlite(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("credwarden_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
