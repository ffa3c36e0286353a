"""Driver-level connections to a SQLite inventory, configured the same way for SQLAlchemy and the raw writer.

SQLite runs in WAL mode with a 30 s busy timeout and foreign keys on; the driver's implicit transactions are
off, so writers start theirs with `BEGIN IMMEDIATE` (two stations never deadlock on a lock upgrade).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: How long a SQLite writer waits for another station's transaction before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def configure_sqlite(dbapi_conn: Any) -> None:
    """WAL, synchronous=NORMAL, busy timeout, foreign keys; transactions started explicitly by the caller."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A configured connection to the SQLite file (usable from any thread; the caller serialises its use)."""
    conn = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    configure_sqlite(conn)
    return conn
