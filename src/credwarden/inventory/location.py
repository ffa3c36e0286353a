"""Where the inventory lives: `--db PATH-or-URL` > `CREDWARDEN_DB` > the per-user default file.

Kept free of SQLAlchemy so that a command recording one snapshot into the default SQLite file pays for none of
it: a plain path is resolved here; a URL is parsed by SQLAlchemy (loaded only then). A SQLite file whose
directory does not exist is refused unless the caller asks for the directory to be created (`create_dirs`);
only the per-user default location is created without asking.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from credwarden.errors import UsageError

ENV_VAR = "CREDWARDEN_DB"
#: Backends the inventory runs on.
SUPPORTED = ("sqlite", "postgresql")


def default_db_path() -> Path:
    """The per-user default database file: `$XDG_DATA_HOME/credwarden/inventory.db` (else ~/.local/share/...)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "credwarden" / "inventory.db"


@dataclass(frozen=True)
class DbLocation:
    """A resolved inventory location: a SQLite file, or a server URL (PostgreSQL)."""

    sqlite_path: Path | None = None  #: the SQLite file (absolute), None for a server
    server_url: str | None = None  #: the full URL of a server database, None for SQLite

    @property
    def backend(self) -> str:
        return "sqlite" if self.sqlite_path is not None else "postgresql"

    def display(self) -> str:
        """For messages and JSON: the file path, or the URL with any password hidden."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return redact_url_text(self.server_url or "")


def resolve_location(db: str | None = None, *, create_dirs: bool = False) -> DbLocation:
    """Turn `--db` / `CREDWARDEN_DB` / the default into a location (UsageError for anything unusable).

    `create_dirs`: create a missing directory of an explicitly given SQLite path instead of refusing it.
    """
    explicit = db or os.environ.get(ENV_VAR) or None
    value = explicit or str(default_db_path())
    if "://" not in value:
        return DbLocation(sqlite_path=_sqlite_file(value, create=create_dirs or explicit is None))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise UsageError(f"not a database URL: {redact_url_text(value)!r} ({exc})") from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED and url.drivername != "postgres":
        raise UsageError(
            f"unsupported inventory database {backend!r}: use a SQLite path or a postgresql+psycopg:// URL"
        )
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise UsageError("an in-memory inventory keeps nothing; give a SQLite file path or a PostgreSQL URL")
        return DbLocation(sqlite_path=_sqlite_file(url.database, create=create_dirs))
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_driver_name() != "psycopg":
        raise UsageError("PostgreSQL inventories use the psycopg 3 driver: write postgresql+psycopg://...")
    if importlib.util.find_spec("psycopg") is None:
        raise UsageError(
            "a PostgreSQL inventory needs the psycopg driver, an optional part of credwarden: "
            "pip install 'credwarden[postgres]'"
        )
    return DbLocation(server_url=url.render_as_string(hide_password=False))


def _sqlite_file(value: str, *, create: bool) -> Path:
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise UsageError(f"inventory database {str(path)!r} is a directory; give a file path or a URL")
    if not path.parent.is_dir():
        if not create:
            raise UsageError(
                f"the directory of the inventory database {str(path)!r} does not exist; create it first (or fix "
                "the path): a new inventory is only started where you asked for one"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the directory {str(path.parent)!r}: {exc.strerror}") from None
    return path


def redact_url_text(value: str) -> str:
    """A URL string with any password masked (for messages)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
