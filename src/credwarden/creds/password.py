"""Passwords of keys come from the environment only (never the command line, a manifest or a log)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from credwarden.errors import ValidationError


def password_from_env(
    name: str, *, purpose: str, env: Mapping[str, str] | None = None, source: str | None = None
) -> str:
    """The value of environment variable `name`; ValidationError naming the variable (never a value) when unset."""
    value = (os.environ if env is None else env).get(name)
    if value is None:
        raise ValidationError(f"environment variable ${name} ({purpose}) is not set", source=source)
    return value
