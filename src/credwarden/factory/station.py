"""Station files: the TOML that describes one factory station (ports, manifest, inventory, limits).

Relative paths inside the file are resolved against the file's directory. Command-line options override the
file's values (arguments > station file > defaults). Example: `examples/station.toml`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from credwarden.errors import ValidationError
from credwarden.tomlfile import load_toml

#: Seconds a silent port gets to answer before its row reads `no_answer`.
DEFAULT_DETECT_TIMEOUT = 5.0
#: Seconds one device may take in total before its row reads `timeout`.
DEFAULT_DEVICE_TIMEOUT = 180.0
#: Upper bound for the default concurrency (one thread per port up to this many).
MAX_DEFAULT_CONCURRENCY = 32


class NrfCloudOptions(BaseModel):
    """Columns of the nRF Cloud onboarding CSV other than the device id and certificate."""

    model_config = ConfigDict(extra="forbid")

    subtype: str = ""
    tags: list[str] = Field(default_factory=list)
    fw_types: list[str] = Field(default_factory=lambda: ["APP", "MODEM"])

    @field_validator("subtype")
    @classmethod
    def _no_separators(cls, value: str) -> str:
        if any(c in value for c in ',"\r\n'):
            raise ValueError("must not contain commas, quotes or line breaks")
        return value

    @field_validator("tags", "fw_types")
    @classmethod
    def _plain_items(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or any(c in item for c in ',|"\r\n'):
                raise ValueError(f"{item!r}: items must be non-empty without commas, pipes, quotes or line breaks")
        return value


class Station(BaseModel):
    """One factory station. Every field can also be given on the command line."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default_factory=socket.gethostname)
    manifest: Path | None = None
    ports: list[str] = Field(default_factory=list)
    glob: list[str] = Field(default_factory=list)
    baud: int = Field(default=115200, gt=0)
    inventory: str | None = None  #: SQLAlchemy URL or a plain path to a SQLite file
    record: bool = True
    concurrency: int | None = Field(default=None, ge=1, le=256)
    timeout: float = Field(default=DEFAULT_DEVICE_TIMEOUT, gt=0)
    detect_timeout: float = Field(default=DEFAULT_DETECT_TIMEOUT, gt=0)
    out_dir: Path | None = None
    nrfcloud_csv: Path | None = None
    nrfcloud: NrfCloudOptions = Field(default_factory=NrfCloudOptions)
    watch: bool = False
    poll_interval: float = Field(default=0.5, gt=0, le=10)

    @field_validator("glob", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def effective_concurrency(self, port_count: int) -> int:
        """The configured concurrency, or one thread per port (capped) when not set."""
        if self.concurrency is not None:
            return self.concurrency
        return max(1, min(port_count, MAX_DEFAULT_CONCURRENCY))

    def with_overrides(self, **values: Any) -> Station:
        """A copy with the non-None values replaced (command-line options win over the file)."""
        changes = {k: v for k, v in values.items() if v is not None}
        merged = self.model_dump()
        merged.update(changes)
        try:
            return Station.model_validate(merged)
        except PydanticValidationError as exc:
            raise ValidationError(_first_error(exc), source="command line") from None


def load_station(path: Path) -> Station:
    """Read and validate a station file; relative paths become relative to the file's directory."""
    data = load_toml(path, "station")
    if isinstance(data.get("station"), dict):  # allow a [station] table as well as top-level keys
        data = {**{k: v for k, v in data.items() if k != "station"}, **data["station"]}
    try:
        station = Station.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(_first_error(exc), source=str(path)) from None
    return _resolve_paths(station, path.parent)


def _resolve_paths(station: Station, base: Path) -> Station:
    def rel(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    updates: dict[str, Any] = {
        "manifest": rel(station.manifest) or station.manifest,
        "out_dir": rel(station.out_dir) or station.out_dir,
        "nrfcloud_csv": rel(station.nrfcloud_csv) or station.nrfcloud_csv,
        "glob": [g if os.path.isabs(g) else str(base / g) for g in station.glob],
        "ports": [p if "://" in p or os.path.isabs(p) else str(base / p) for p in station.ports],
    }
    inv = station.inventory
    if inv and "://" not in inv and not os.path.isabs(inv):
        updates["inventory"] = str(base / inv)
    return station.model_copy(update=updates)


def _first_error(exc: PydanticValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "station"
    return f"{where}: {err['msg']}"
