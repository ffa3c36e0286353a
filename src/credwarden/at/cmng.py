"""`%CMNG` command builders and response parsers (sans-I/O, modem-behaviour.md#cmng).

Parsers are tolerant of what real devices and documentation print: spaces after commas, quoted or unquoted
fields, a missing SHA, unknown type codes and a trailing `\\r`. Read content is returned byte-exact (the wire is
decoded as latin-1 everywhere, so `str.encode("latin-1")` restores the original bytes).
"""

from __future__ import annotations

import re

from credwarden.errors import ProtocolError, ValidationError
from credwarden.models import StoredEntry
from credwarden.types import MAX_AT_COMMAND_BYTES, MAX_SEC_TAG

_LIST_RE = re.compile(
    r"""^\s*(?:%CMNG|\#XCMNG):\s*
        (?P<tag>\d+)\s*,\s*
        (?P<type>\d+)\s*
        (?:,\s*(?P<sha>"[^"]*"|[^,"\s]*)\s*)?
        (?:,.*)?$""",
    re.VERBOSE | re.DOTALL,
)


def parse_list_line(line: str) -> StoredEntry | None:
    """Parse one `%CMNG: <sec_tag>,<type>[,"<sha>"]` line; None when the line is not a parseable list line.

    A read line (with content after the SHA) yields its entry too. The SHA is upper-cased; an empty or missing
    SHA gives `sha256=None`.
    """
    text = line.rstrip("\r\n")
    match = _LIST_RE.match(text)
    if match is None:
        return None
    sec_tag = int(match["tag"])
    type_code = int(match["type"])
    if sec_tag > MAX_SEC_TAG:
        return None
    sha = (match["sha"] or "").strip('"').strip()
    return StoredEntry(sec_tag=sec_tag, type=type_code, sha256=sha.upper() or None)


def parse_list_response(lines: list[str]) -> tuple[list[StoredEntry], list[str]]:
    """Parse the information lines of `AT%CMNG=1`; returns (entries, lines that could not be parsed)."""
    entries: list[StoredEntry] = []
    rejected: list[str] = []
    for line in lines:
        entry = parse_list_line(line)
        if entry is None:
            rejected.append(line)
        else:
            entries.append(entry)
    return entries, rejected


def parse_read_response(text: str) -> tuple[StoredEntry, bytes]:
    """Parse the information text of `AT%CMNG=2`: the entry and the content between the 3rd and 4th quote.

    `text` may hold CR/LF inside the content; the content is returned byte-exact. Raises ProtocolError when the
    answer has no content field.
    """
    start = text.find("%CMNG:")
    if start < 0:
        start = text.find("#XCMNG:")
    body = text[start:] if start >= 0 else text
    quotes = [i for i, char in enumerate(body) if char == '"']
    if len(quotes) < 4:
        raise ProtocolError(f"read answer without a quoted content field ({len(body)} characters)")
    head = body[: quotes[0]] + body[quotes[0] : quotes[1] + 1]
    entry = parse_list_line(head)
    if entry is None:
        raise ProtocolError(f"read answer does not start with '%CMNG: <sec_tag>,<type>': {body[:40]!r}")
    content = body[quotes[2] + 1 : quotes[3]]
    return entry, content.encode("latin-1")


def _check_tag(sec_tag: int) -> None:
    if not 0 <= sec_tag <= MAX_SEC_TAG:
        raise ValidationError(f"sec_tag {sec_tag} is outside 0..{MAX_SEC_TAG}")


def _check_type(type_code: int) -> None:
    if not 0 <= type_code <= 255:
        raise ValidationError(f"credential type {type_code} is outside 0..255")


def list_command(sec_tag: int | None = None, type_code: int | None = None) -> str:
    """`AT%CMNG=1[,<sec_tag>[,<type>]]`; a type needs a tag (the modem's behaviour without one is UNKNOWN)."""
    if sec_tag is None:
        if type_code is not None:
            raise ValidationError("listing by type needs a sec_tag (filter the full list instead)")
        return "AT%CMNG=1"
    _check_tag(sec_tag)
    if type_code is None:
        return f"AT%CMNG=1,{sec_tag}"
    _check_type(type_code)
    return f"AT%CMNG=1,{sec_tag},{type_code}"


def read_command(sec_tag: int, type_code: int) -> str:
    """`AT%CMNG=2,<sec_tag>,<type>`."""
    _check_tag(sec_tag)
    _check_type(type_code)
    return f"AT%CMNG=2,{sec_tag},{type_code}"


def delete_command(sec_tag: int, type_code: int) -> str:
    """`AT%CMNG=3,<sec_tag>,<type>`."""
    _check_tag(sec_tag)
    _check_type(type_code)
    return f"AT%CMNG=3,{sec_tag},{type_code}"


def write_command(sec_tag: int, type_code: int, content: bytes, password: str | None = None) -> str:
    """`AT%CMNG=0,<sec_tag>,<type>,"<content>"[,"<passwd>"]`, refusing what the modem cannot take.

    Content is sent as-is. Refused before sending: empty content, a `"` (no escape exists), NUL,
    non-ASCII bytes, a password over 32 characters or with a `"`, and a command over 4096 bytes.
    """
    _check_tag(sec_tag)
    _check_type(type_code)
    if not content:
        raise ValidationError("content is empty; the modem refuses an empty credential")
    if b'"' in content:
        raise ValidationError('content contains a double quote ("), which AT%CMNG cannot carry')
    if b"\x00" in content:
        raise ValidationError("content contains a NUL byte, which the AT host would drop")
    if any(byte > 0x7F for byte in content):
        raise ValidationError("content contains non-ASCII bytes; credentials are ASCII text (PEM or hex)")
    command = f'AT%CMNG=0,{sec_tag},{type_code},"{content.decode("ascii")}"'
    if password is not None:
        if not password or len(password) > 32:
            raise ValidationError("the key password must be 1..32 characters")
        if '"' in password or not password.isascii():
            raise ValidationError('the key password must be ASCII without a double quote (")')
        command += f',"{password}"'
    size = len(command.encode("ascii"))
    if size > MAX_AT_COMMAND_BYTES:
        over = size - MAX_AT_COMMAND_BYTES
        raise ValidationError(
            f"the write command would be {size} bytes, {over} over the modem's {MAX_AT_COMMAND_BYTES}-byte AT limit;"
            " shorten the content (e.g. drop unneeded certificates from the chain)"
        )
    return command
