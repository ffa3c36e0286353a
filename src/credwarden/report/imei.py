"""Why a report's `imei=` is not an IMEI (the check itself is `credwarden.types.is_valid_imei`)."""

from __future__ import annotations

from credwarden.types import is_valid_imei, luhn_check_digit

__all__ = ["imei_problem", "is_valid_imei", "luhn_check_digit"]


def imei_problem(text: str) -> str | None:
    """Why `text` is not an IMEI (a sentence), None when it is one."""
    if not (text.isascii() and text.isdigit()):
        return f"IMEI {text[:20]!r} is not all digits"
    if len(text) != 15:
        return f"IMEI {text[:20]!r} has {len(text)} digits, not 15"
    if not is_valid_imei(text):
        return f"IMEI {text} has a wrong check digit (expected {luhn_check_digit(text[:14])})"
    return None
