"""Parsers for identity, version and state answers (`+CGSN`, `+CGMR`, `+CFUN?`, `+CMEE?`, UUIDs, `%CERTEXPIRY`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from credwarden.errors import ProtocolError

_VERSION = re.compile(r"_(\d+)\.(\d+)\.(\d+)")
_IMEI = re.compile(r"\b(\d{15})\b")
_UUID = re.compile(r"([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})")
_INT_AFTER = re.compile(r"^\s*(?:[+%#][A-Z0-9_]+:)?\s*(\d+)")
_EXPIRY = re.compile(r'^\s*(?:%CERTEXPIRY:)?\s*"?([0-9A-Fa-f]*)"?\s*,\s*"?(\d{14})Z?"?\s*,\s*"?(\d{14})Z?"?\s*$')


def parse_firmware_version(text: str | None) -> tuple[int, int, int] | None:
    """`mfw_nrf9160_1.3.5` -> (1, 3, 5); also `mfw_nrf91x1_2.0.2`, `mfw_nrf9151-ntn_1.0.0-1.alpha`; None if absent."""
    if not text:
        return None
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def parse_imei(lines: list[str]) -> str | None:
    """The 15-digit IMEI of an `AT+CGSN` answer (bare or `+CGSN: "..."`)."""
    for line in lines:
        match = _IMEI.search(line)
        if match:
            return match.group(1)
    return None


def parse_int_value(lines: list[str], prefix: str) -> int:
    """First integer of the `prefix` line (`+CFUN: 4` -> 4); ProtocolError when absent."""
    for line in lines:
        if line.strip().upper().startswith(prefix.upper()):
            match = _INT_AFTER.match(line.strip())
            if match:
                return int(match.group(1))
    raise ProtocolError(f"expected a '{prefix} <n>' line, got {lines!r}")


def parse_uuid(text: str) -> str | None:
    """A UUID in canonical lower-case 8-4-4-4-12 form from `text` (dashes optional), None when absent."""
    match = _UUID.search(text)
    if match is None:
        return None
    return "-".join(group.lower() for group in match.groups())


def _timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_certexpiry(lines: list[str]) -> tuple[str, datetime, datetime]:
    """`%CERTEXPIRY: <serial hex>,<notBefore yyyymmddhhmmssZ>,<notAfter>` -> (serial, not_before, not_after)."""
    for line in lines:
        match = _EXPIRY.match(line)
        if match:
            try:
                return match.group(1).upper(), _timestamp(match.group(2)), _timestamp(match.group(3))
            except ValueError as exc:
                raise ProtocolError(f"unreadable date in %CERTEXPIRY answer {line!r}: {exc}") from exc
    raise ProtocolError(f"unexpected %CERTEXPIRY answer: {lines!r}")


def parse_quoted_token(lines: list[str], prefix: str) -> str:
    """The quoted value of a `prefix "<value>"` line (`%KEYGEN:`, `%ATTESTTOKEN:`)."""
    for line in lines:
        text = line.strip()
        if text.upper().startswith(prefix.upper()):
            return text[len(prefix) :].strip().strip('"')
    raise ProtocolError(f"expected a '{prefix}' line in the answer, got {len(lines)} other line(s)")
