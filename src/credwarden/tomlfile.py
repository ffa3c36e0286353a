"""Reading TOML input files (manifests, station files) with every failure turned into a `ValidationError`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from credwarden.errors import ValidationError


def read_file(path: Path, what: str) -> bytes:
    """The bytes of `path`; a missing or unreadable file is a ValidationError naming it as the `what` file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"{what} file not found", source=str(path)) from None
    except OSError as exc:
        raise ValidationError(f"cannot read the {what} file ({exc.strerror or exc})", source=str(path)) from None


def parse_toml(raw: bytes | str, source: str) -> dict[str, Any]:
    """TOML text (bytes must be UTF-8) as a dict; bad encoding or syntax is a ValidationError."""
    try:
        return tomllib.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"not valid TOML: {exc}", source=source) from None


def load_toml(path: Path, what: str = "manifest") -> dict[str, Any]:
    """Read and parse a TOML file (`what` names it in errors: "manifest", "station")."""
    return parse_toml(read_file(path, what), str(path))
