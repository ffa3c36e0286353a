"""The simulator's own AT command parser (3GPP TS 27.007 style), independent of the client's codec.

Commands arrive as latin-1 text so every byte survives. Parameters are comma separated; a quoted string
runs to the next `"` (no escape mechanism exists: modem-behaviour.md#content-rules) and may contain CR/LF; blanks around
unquoted parameters is tolerated (`AT%CMNG=1, 16842753` is what `modem_key_mgmt_clear` sends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Form = Literal["action", "set", "read", "test"]


class ParamError(ValueError):
    """Malformed parameters (the modem answers CME 50)."""


@dataclass(frozen=True)
class Quoted:
    """A quoted string parameter (content without the quotes)."""

    text: str


Param = int | Quoted | None  #: None = an empty parameter (`AT%CMNG=1,,0`)


@dataclass(frozen=True)
class Command:
    """One parsed command line: `AT<name><form><params>`."""

    name: str  #: upper-case, with its prefix: `+CFUN`, `%CMNG`, `#XCMNG`, `E1`, `` (bare AT)
    form: Form
    raw_params: str  #: text after `=` (set form)


def strip_line(text: str) -> str:
    """Remove surrounding whitespace / CR / LF that are outside quotes (the text between quotes is kept)."""
    return text.strip(" \t\r\n")


def split_command(line: str) -> Command | None:
    """Split `AT...` into name / form / parameters; None when the line is not an AT command."""
    text = strip_line(line)
    if len(text) < 2 or text[:2].upper() != "AT":
        return None
    body = text[2:]
    if body == "":
        return Command("", "action", "")
    if body[0] in "+%#":
        index = 1
        while index < len(body) and (body[index].isalnum() or body[index] == "_"):
            index += 1
        name = body[:index].upper()
        if index == 1:
            return None
        rest = body[index:]
    else:
        # basic commands: E0, E1, I, Z ... (letter plus optional digits)
        index = 1
        while index < len(body) and body[index].isdigit():
            index += 1
        name, rest = body[:index].upper(), body[index:]
        if not name[0].isalpha():
            return None
    if rest == "":
        return Command(name, "action", "")
    if rest == "?":
        return Command(name, "read", "")
    if rest == "=?":
        return Command(name, "test", "")
    if rest.startswith("="):
        return Command(name, "set", rest[1:])
    return None


def parse_params(raw: str) -> list[Param]:
    """Parse `raw` (text after `=`) into parameters; ParamError on malformed text."""
    params: list[Param] = []
    index, length = 0, len(raw)
    while True:
        while index < length and raw[index] in " \t":
            index += 1
        if index < length and raw[index] == '"':
            end = raw.find('"', index + 1)
            if end < 0:
                raise ParamError("unterminated quoted string")
            params.append(Quoted(raw[index + 1 : end]))
            index = end + 1
            while index < length and raw[index] in " \t":
                index += 1
        else:
            start = index
            while index < length and raw[index] != ",":
                index += 1
            token = raw[start:index].strip(" \t")
            if token == "":
                params.append(None)
            elif token.isdigit() and token.isascii():
                params.append(int(token))
            else:
                raise ParamError(f"parameter {token[:20]!r} is not a number")
        if index >= length:
            return params
        if raw[index] != ",":
            raise ParamError("text after a quoted string")
        index += 1


def int_param(params: list[Param], index: int, *, low: int, high: int, default: int | None = None) -> int:
    """An integer parameter in [low, high]; `default` when absent (ParamError when mandatory)."""
    value = params[index] if index < len(params) else None
    if value is None:
        if default is None:
            raise ParamError(f"parameter {index + 1} is mandatory")
        return default
    if not isinstance(value, int) or not low <= value <= high:
        raise ParamError(f"parameter {index + 1} out of range")
    return value


def str_param(params: list[Param], index: int, *, mandatory: bool = False) -> str | None:
    """A quoted string parameter or None when absent (ParamError when it is a number or mandatory)."""
    value = params[index] if index < len(params) else None
    if value is None:
        if mandatory:
            raise ParamError(f"parameter {index + 1} is mandatory")
        return None
    if not isinstance(value, Quoted):
        raise ParamError(f"parameter {index + 1} must be a quoted string")
    return value.text


def max_params(params: list[Param], count: int) -> None:
    """ParamError when more than `count` parameters were given."""
    if len(params) > count:
        raise ParamError(f"at most {count} parameters")
