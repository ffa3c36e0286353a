"""Strict CBOR (RFC 8949) decoder for what nRF91 modems send, plus the tiny encoder COSE verification needs.

Decodes integers, byte/text strings (definite and indefinite), arrays and maps (definite and indefinite),
tags (as `CborTag`), false/true/null and floats. Malformed input, trailing bytes, duplicate or unhashable map
keys, reserved additional-info values, lengths beyond the input and nesting deeper than `max_depth` all
raise `ProtocolError` with the byte offset: device answers never produce a traceback or a recursion blow-up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from credwarden.errors import ProtocolError

__all__ = ["DEFAULT_MAX_DEPTH", "CborTag", "decode_prefix", "dumps", "loads"]

DEFAULT_MAX_DEPTH = 32
_BREAK = 0xFF
_INDEFINITE = 31


@dataclass(frozen=True)
class CborTag:
    """A tagged item: `tag` number wrapping `value` (18 = COSE_Sign1, 55799 = self-described CBOR)."""

    tag: int
    value: Any


class _Break:
    """Marker returned when an indefinite-length container's 0xFF stop code is read."""


_BREAK_MARK = _Break()


class _Decoder:
    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def fail(self, reason: str) -> ProtocolError:
        return ProtocolError(f"malformed CBOR at byte {self.pos}: {reason}")

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.pos:
            raise self.fail(f"needs {count} more bytes, only {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def argument(self, info: int) -> int | None:
        """The head argument; None means indefinite length."""
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self.take(1 << (info - 24)), "big")
        if info == _INDEFINITE:
            return None
        raise self.fail(f"reserved additional information {info}")

    def item(self, depth: int, *, allow_break: bool = False) -> Any:
        if depth > self.max_depth:
            raise self.fail(f"nesting deeper than {self.max_depth}")
        initial = self.take(1)[0]
        if initial == _BREAK:
            if allow_break:
                return _BREAK_MARK
            raise self.fail("unexpected break code")
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.simple(info)
        arg = self.argument(info)
        if major == 0:
            return self.definite(arg, "unsigned integer")
        if major == 1:
            return -1 - self.definite(arg, "negative integer")
        if major in (2, 3):
            return self.string(major, arg)
        if major == 4:
            return self.array(arg, depth)
        if major == 5:
            return self.mapping(arg, depth)
        return CborTag(self.definite(arg, "tag"), self.item(depth + 1))

    def definite(self, arg: int | None, what: str) -> int:
        if arg is None:
            raise self.fail(f"indefinite length is not allowed for a {what}")
        return arg

    def string(self, major: int, arg: int | None) -> bytes | str:
        if arg is None:
            chunks: list[bytes] = []
            while True:
                initial = self.take(1)[0]
                if initial == _BREAK:
                    break
                if initial >> 5 != major:
                    raise self.fail("indefinite string chunk of another major type")
                chunks.append(self.take(self.definite(self.argument(initial & 0x1F), "string chunk")))
            raw = b"".join(chunks)
        else:
            raw = self.take(arg)
        if major == 2:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("text string is not valid UTF-8") from exc

    def array(self, arg: int | None, depth: int) -> list[Any]:
        items: list[Any] = []
        if arg is None:
            while (value := self.item(depth + 1, allow_break=True)) is not _BREAK_MARK:
                items.append(value)
            return items
        if arg > len(self.data) - self.pos:
            raise self.fail(f"array of {arg} items cannot fit in the remaining input")
        for _ in range(arg):
            items.append(self.item(depth + 1))
        return items

    def mapping(self, arg: int | None, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        if arg is not None and 2 * arg > len(self.data) - self.pos:
            raise self.fail(f"map of {arg} pairs cannot fit in the remaining input")
        count = 0
        while arg is None or count < arg:
            key = self.item(depth + 1, allow_break=arg is None)
            if key is _BREAK_MARK:
                break
            if isinstance(key, list | dict):
                raise self.fail("map key is an array or a map")
            try:
                duplicate = key in result
            except TypeError as exc:
                raise self.fail("unhashable map key") from exc
            if duplicate:
                raise self.fail(f"duplicate map key {key!r}")
            result[key] = self.item(depth + 1)
            count += 1
        return result

    def simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        raise self.fail(f"unsupported simple value {info}")


def decode_prefix(data: bytes, offset: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[Any, int]:
    """Decode one item starting at `offset`; return it and the offset just after it."""
    decoder = _Decoder(bytes(data), max_depth)
    decoder.pos = offset
    try:
        value = decoder.item(0)
    except RecursionError as exc:  # only reachable with a caller-chosen, very large max_depth
        raise ProtocolError("malformed CBOR: nesting too deep") from exc
    return value, decoder.pos


def loads(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    value, end = decode_prefix(data, max_depth=max_depth)
    if end != len(data):
        raise ProtocolError(f"malformed CBOR: {len(data) - end} unexpected bytes after the item")
    return value


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([(major << 5) | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes([(major << 5) | info]) + argument.to_bytes(size, "big")
    raise ValueError(f"CBOR argument {argument} does not fit in 64 bits")


def dumps(value: Any) -> bytes:
    """Minimal deterministic encoder (ints, bytes, text, arrays, maps, tags, bool, null) for Sig_structures."""
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(dumps(v) for v in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(dumps(k) + dumps(v) for k, v in value.items())
    if isinstance(value, CborTag):
        return _head(6, value.tag) + dumps(value.value)
    raise TypeError(f"cannot CBOR-encode {type(value).__name__}")
