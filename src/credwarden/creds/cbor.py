"""Strict CBOR (RFC 8949) decoding of what nRF91 modems send: a thin layer over the `cbor2` library.

`cbor2` does the decoding; this layer makes it strict and gives clear errors. Every tag stays a `CborTag`
(no date, bignum or other semantic conversion); only integers, byte/text strings (definite or indefinite),
arrays, maps, tags, false/true/null and floats are accepted. Malformed input, trailing bytes, duplicate map
keys, array/map keys, other simple values and nesting deeper than `max_depth` all raise `ProtocolError`
naming the byte offset (or, for a value that decoded but is not allowed, its position in the structure):
device answers never produce a traceback or a recursion blow-up.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from typing import Any

import cbor2

from credwarden.errors import ProtocolError

__all__ = ["DEFAULT_MAX_DEPTH", "MAX_DEPTH_CEILING", "CborTag", "decode_prefix", "dumps", "loads"]

DEFAULT_MAX_DEPTH = 32
MAX_DEPTH_CEILING = 1000  #: no caller can allow deeper nesting than this
CborTag = cbor2.CBORTag  #: a tagged item: `.tag` number wrapping `.value` (18 = COSE_Sign1, 55799 = self-described)

_DUPLICATE_KEY = re.compile(r"[Dd]uplicate map key: (.*)$")
_SUBTYPE = re.compile(r"subtype 0x([0-9a-fA-F]+)")


class _RawTags(Mapping[int, Any]):
    """Semantic decoders for every tag number: each one keeps the tag as a plain `CborTag`."""

    def __getitem__(self, tag: int) -> Any:
        def keep(value: Any, immutable: bool) -> CborTag:
            return CborTag(tag, value)

        return keep

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, int)

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


_RAW_TAGS = _RawTags()


def _reason(exc: cbor2.CBORDecodeError, max_depth: int) -> str:
    """A stable, readable reason for a `cbor2` decoding error."""
    message = str(exc)
    if isinstance(exc, cbor2.CBORDecodeEOF):
        return "the input ends inside an item"
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return "text string is not valid UTF-8"
    if "nesting depth" in message:
        return f"nesting deeper than {max_depth}"
    if (duplicate := _DUPLICATE_KEY.search(message)) is not None:
        return f"duplicate map key {duplicate.group(1)}"
    if "break code" in message:
        return "unexpected break code"
    if "indefinite length not allowed" in message:
        return "indefinite length is not allowed here"
    if "found in indefinite length" in message:
        return "indefinite string chunk of another major type"
    if (subtype := _SUBTYPE.search(message)) is not None:
        return f"reserved additional information {int(subtype.group(1), 16)}"
    return message


def _check(value: Any, path: str) -> None:
    """Refuse what decoded but is not part of the accepted data model (iteratively: no recursion limit)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if item is None or isinstance(item, bool | int | float | bytes | str):
            continue
        if isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, tuple | cbor2.frozendict | list | dict):
                    raise ProtocolError(f"malformed CBOR: map key is an array or a map (in {where})")
                stack.append((key, f"{where} key"))
                stack.append((child, f"{where}[{key!r}]"))
        elif isinstance(item, CborTag):
            stack.append((item.value, f"{where} tag {item.tag}"))
        elif isinstance(item, cbor2.CBORSimpleValue):
            raise ProtocolError(f"malformed CBOR: unsupported simple value {item.value} (at {where})")
        elif item is cbor2.undefined:
            raise ProtocolError(f"malformed CBOR: unsupported simple value 23 (undefined, at {where})")
        else:
            raise ProtocolError(f"malformed CBOR: unsupported item {type(item).__name__} (at {where})")


def decode_prefix(data: bytes, offset: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[Any, int]:
    """Decode one item starting at `offset`; return it and the offset just after it."""
    depth = min(max_depth, MAX_DEPTH_CEILING)
    stream = io.BytesIO(bytes(data))
    stream.seek(offset)
    decoder = cbor2.CBORDecoder(
        stream, read_size=1, semantic_decoders=_RAW_TAGS, max_depth=depth, allow_duplicate_keys=False
    )
    try:
        value = decoder.decode()
    except cbor2.CBORDecodeError as exc:
        raise ProtocolError(f"malformed CBOR at byte {stream.tell()}: {_reason(exc, depth)}") from exc
    except RecursionError as exc:  # not expected with the depth ceiling; kept as a last line of defence
        raise ProtocolError("malformed CBOR: nesting too deep") from exc
    _check(value, "item")
    return value, stream.tell()


def loads(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    value, end = decode_prefix(data, max_depth=max_depth)
    if end != len(data):
        raise ProtocolError(f"malformed CBOR at byte {end}: {len(data) - end} unexpected bytes after the item")
    return value


def dumps(value: Any) -> bytes:
    """Deterministic encoding (shortest heads, definite lengths, maps in insertion order), e.g. Sig_structures."""
    return cbor2.dumps(value)
