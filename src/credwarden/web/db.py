"""Opening the inventory read-only for the dashboard.

SQLite: the file must exist; it is opened with `mode=ro` (the OS-level read-only open) and `PRAGMA query_only`.
PostgreSQL: every session is `READ ONLY` (`SET SESSION CHARACTERISTICS`), so no statement can write.
The schema is never migrated by the dashboard: a database older than step 3 (or newer than this credwarden)
is refused with a message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from credwarden.errors import UsageError
from credwarden.inventory.connect import SQLITE_BUSY_TIMEOUT_MS
from credwarden.inventory.engine import location_url
from credwarden.inventory.location import ENV_VAR, default_db_path, resolve_location
from credwarden.inventory.migrations import LATEST_VERSION, current_version

#: the oldest schema the dashboard reads (step 3: devices.lost_entries / soonest_expiry)
MIN_SCHEMA = 3
#: SQLite page cache per connection (KiB) and memory-mapped I/O window of the read-only connections
SQLITE_CACHE_KIB = 256 * 1024
SQLITE_MMAP_BYTES = 4 * 2**30


def resolve_readonly_url(db: str | None) -> URL:
    """`--db` > `CREDWARDEN_DB` > the per-user default, as for every inventory command; nothing is created."""
    value = db or os.environ.get(ENV_VAR) or str(default_db_path())
    if "://" not in value and not Path(value).expanduser().is_file():
        raise UsageError(f"no inventory database at {value!r} (the dashboard never creates one)")
    location = resolve_location(value)  # an explicit location: no directory is created
    if location.sqlite_path is not None and not location.sqlite_path.is_file():
        raise UsageError(f"no inventory database at {str(location.sqlite_path)!r} (the dashboard never creates one)")
    return location_url(location)


def create_readonly_engine(url: URL) -> Engine:
    """An engine whose connections cannot write (see the module docstring)."""
    if url.get_backend_name() == "sqlite":
        path = quote(str(url.database))
        engine = create_engine(
            f"sqlite:///file:{path}?mode=ro&uri=true",
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.execute("PRAGMA query_only=ON")
                # fleet-wide reads revisit the same index pages on every request: keep them in memory
                cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)

    @event.listens_for(engine, "connect")
    def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
        previous = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_conn.autocommit = previous

    return engine


def check_schema(engine: Engine, url: URL) -> tuple[int, bool]:
    """(schema version, whether field reports exist); UsageError for a database the dashboard cannot read."""
    where = url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            version = current_version(conn)
            has_reports = inspect(conn).has_table("reports")
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        raise UsageError(f"cannot read the inventory {where}: {first[0] if first else type(exc).__name__}") from None
    if version < MIN_SCHEMA:
        raise UsageError(
            f"the inventory {where} has schema version {version}; the dashboard needs {MIN_SCHEMA} or later "
            "(run any `credwarden inventory` command once to upgrade it)"
        )
    if version > LATEST_VERSION:
        raise UsageError(
            f"the inventory {where} has schema version {version}, newer than this credwarden ({LATEST_VERSION})"
        )
    return version, has_reports
