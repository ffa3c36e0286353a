"""Where the inventory lives and how to connect to it: URL resolution and engine set-up per backend.

Precedence: explicit `--db URL-or-path` > environment `CREDWARDEN_DB` > the per-user default
`$XDG_DATA_HOME/credwarden/inventory.db` (fallback `~/.local/share/credwarden/inventory.db`).
SQLite runs in WAL mode with a busy timeout, and write transactions start with `BEGIN IMMEDIATE` so two
stations never deadlock on a lock upgrade. PostgreSQL is reached through `postgresql+psycopg://` URLs.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from credwarden.errors import UsageError

ENV_VAR = "CREDWARDEN_DB"
#: How long a SQLite writer waits for another station's transaction before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SUPPORTED = ("sqlite", "postgresql")


def default_db_path() -> Path:
    """The per-user default database file."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "credwarden" / "inventory.db"


def resolve_url(db: str | None = None) -> URL:
    """Turn `--db` / `CREDWARDEN_DB` / the default into a SQLAlchemy URL (a plain path means SQLite)."""
    value = db if db else os.environ.get(ENV_VAR) or str(default_db_path())
    if "://" not in value:
        path = Path(value).expanduser().resolve()
        if path.is_dir():
            raise UsageError(f"inventory database {str(path)!r} is a directory; give a file path or a URL")
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise UsageError(f"not a database URL: {redact_url_text(value)!r} ({exc})") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in _SUPPORTED:
        raise UsageError(
            f"unsupported inventory database {backend!r}: use a SQLite path or a postgresql+psycopg:// URL"
        )
    if backend == "postgresql" and url.get_driver_name() != "psycopg":
        raise UsageError("PostgreSQL inventories use the psycopg 3 driver: write postgresql+psycopg://...")
    if backend == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise UsageError(
            "a PostgreSQL inventory needs the psycopg driver, an optional part of credwarden: "
            "pip install 'credwarden[postgres]'"
        )
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return url


def redact_url_text(value: str) -> str:
    """A URL string with any password masked (for messages)."""
    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def create_inventory_engine(url: URL) -> Engine:
    """An engine configured for the backend: SQLite WAL + busy timeout + explicit BEGIN; PostgreSQL pre-ping."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine, in_memory=url.database in (None, "", ":memory:"))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite's implicit BEGIN) decide where transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("credwarden_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
