"""Strict base64url (RFC 4648 section 5, padding optional) and the `<part>.<part>` token framing the modem uses."""

from __future__ import annotations

import base64
import binascii
import re

from credwarden.errors import ProtocolError

__all__ = ["b64url_decode", "b64url_encode", "split_token"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, what: str = "data") -> bytes:
    """Decode base64url with or without padding; ProtocolError naming `what` when it is not valid."""
    if not _ALPHABET.fullmatch(text):
        raise ProtocolError(f"{what}: not base64url (unexpected characters)")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ProtocolError(f"{what}: truncated base64url ({len(stripped)} characters)")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{what}: invalid base64url") from exc


def split_token(text: str, *, what: str) -> tuple[str, str | None]:
    """Split `<b64url>[.<b64url>]` (optionally still in its double quotes) into its parts."""
    token = text.strip()
    if len(token) >= 2 and token[0] == token[-1] == '"':
        token = token[1:-1]
    if not token:
        raise ProtocolError(f"{what}: empty answer")
    parts = token.split(".")
    if len(parts) > 2 or not all(parts):
        raise ProtocolError(f"{what}: expected <base64url>.<base64url>, got {len(parts)} part(s)")
    return parts[0], parts[1] if len(parts) == 2 else None
