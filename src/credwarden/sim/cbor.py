"""A small, strict CBOR encoder (RFC 8949) for the messages the simulated modem emits.

Covers exactly what `%KEYGEN`, `%ATTESTTOKEN` and COSE need: unsigned and negative integers (64-bit range),
byte strings, text strings, arrays, maps (encoded in insertion order, as the modem does), tags, null and
booleans. Always the shortest (preferred) head encoding; definite lengths only. Anything else raises
TypeError/ValueError so a simulator bug cannot silently produce a malformed message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Tag", "dumps"]

_MAJOR_UNSIGNED = 0
_MAJOR_NEGATIVE = 1
_MAJOR_BYTES = 2
_MAJOR_TEXT = 3
_MAJOR_ARRAY = 4
_MAJOR_MAP = 5
_MAJOR_TAG = 6
_SIMPLE_FALSE = b"\xf4"
_SIMPLE_TRUE = b"\xf5"
_SIMPLE_NULL = b"\xf6"
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Tag:
    """A CBOR tagged item: `tag` (e.g. 18 = COSE_Sign1, 55799 = self-described CBOR) wrapping `value`."""

    tag: int
    value: Any


def _head(major: int, argument: int) -> bytes:
    """Initial byte plus argument in its shortest form."""
    if argument < 0 or argument > _UINT64_MAX:
        raise ValueError(f"CBOR argument {argument} out of the 64-bit range")
    if argument < 24:
        return bytes([(major << 5) | argument])
    if argument <= 0xFF:
        return bytes([(major << 5) | 24, argument])
    if argument <= 0xFFFF:
        return bytes([(major << 5) | 25]) + argument.to_bytes(2, "big")
    if argument <= 0xFFFF_FFFF:
        return bytes([(major << 5) | 26]) + argument.to_bytes(4, "big")
    return bytes([(major << 5) | 27]) + argument.to_bytes(8, "big")


def _encode(value: Any, out: bytearray) -> None:
    # bool before int: bool is an int subclass.
    if value is None:
        out += _SIMPLE_NULL
    elif value is True:
        out += _SIMPLE_TRUE
    elif value is False:
        out += _SIMPLE_FALSE
    elif isinstance(value, int):
        out += _head(_MAJOR_UNSIGNED, value) if value >= 0 else _head(_MAJOR_NEGATIVE, -1 - value)
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out += _head(_MAJOR_BYTES, len(data))
        out += data
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += _head(_MAJOR_TEXT, len(data))
        out += data
    elif isinstance(value, list | tuple):
        out += _head(_MAJOR_ARRAY, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out += _head(_MAJOR_MAP, len(value))
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    elif isinstance(value, Tag):
        out += _head(_MAJOR_TAG, value.tag)
        _encode(value.value, out)
    else:
        raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Encode `value` as CBOR (shortest heads, definite lengths, maps in insertion order)."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)
