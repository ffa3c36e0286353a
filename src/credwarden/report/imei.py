"""IMEI checks: 15 decimal digits whose last one is the Luhn check digit of the other 14."""

from __future__ import annotations


def luhn_check_digit(body: str) -> str:
    """The Luhn digit completing `body` (the 14 digits before an IMEI's check digit)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # every second digit from the right, starting with the rightmost of the body
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_imei(text: str) -> bool:
    """True for 15 ASCII digits with a correct Luhn check digit."""
    return len(text) == 15 and text.isascii() and text.isdigit() and luhn_check_digit(text[:14]) == text[14]


def imei_problem(text: str) -> str | None:
    """Why `text` is not an IMEI (a sentence), None when it is one."""
    if not (text.isascii() and text.isdigit()):
        return f"IMEI {text[:20]!r} is not all digits"
    if len(text) != 15:
        return f"IMEI {text[:20]!r} has {len(text)} digits, not 15"
    if not is_valid_imei(text):
        return f"IMEI {text} has a wrong check digit (expected {luhn_check_digit(text[:14])})"
    return None
