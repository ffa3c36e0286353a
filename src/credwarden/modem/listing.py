"""Seeing the credential store when its full list does not fit: listing known sec_tags one by one.

Over the NCS shell the full `AT%CMNG=1` of a large store (about 30+ entries) exceeds the shell's response buffer
and the modem's answer is dropped (`-7`, E2BIG). The modem cannot enumerate its tags in smaller pieces, but it can
list one sec_tag (`AT%CMNG=1,<tag>`): callers that know which tags matter (a manifest) see those, and are told
that entries on other tags could not be seen.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from credwarden.errors import AnswerTooLarge
from credwarden.models import StoredEntry


class Lister(Protocol):
    """What listing needs from a device (`credwarden.modem.device.Device` provides it)."""

    def list(self, sec_tag: int | None = None, type: int | None = None) -> builtins.list[StoredEntry]: ...


@dataclass(frozen=True)
class StoreView:
    """The entries seen, and (when the full list did not fit) what could not be seen."""

    entries: tuple[StoredEntry, ...]
    unseen: str | None = None  #: None: the full list was read; else which entries could not be seen and why
    listed_tags: tuple[int, ...] = ()  #: the sec_tags listed one by one (when the full list did not fit)
    unlisted_tags: tuple[int, ...] = ()  #: wanted sec_tags whose own list did not fit either

    @property
    def complete(self) -> bool:
        return self.unseen is None


def list_tags(device: Lister, tags: Iterable[int]) -> tuple[builtins.list[StoredEntry], builtins.list[int]]:
    """`AT%CMNG=1,<tag>` for each tag (sorted, once each): (entries, tags whose own list did not fit)."""
    entries: builtins.list[StoredEntry] = []
    too_large: builtins.list[int] = []
    for tag in sorted(set(tags)):
        try:
            entries.extend(device.list(tag))
        except AnswerTooLarge:
            too_large.append(tag)
    return entries, too_large


def list_store(device: Lister, tags: Iterable[int] | Callable[[], Iterable[int]]) -> StoreView:
    """The full list; when it does not fit the shell's buffer, the given sec_tags one by one (and a note).

    `tags` may be a callable: it is only called when the full list did not fit."""
    try:
        return StoreView(tuple(device.list()))
    except AnswerTooLarge:
        pass
    wanted = sorted(set(tags() if callable(tags) else tags))
    entries, too_large = list_tags(device, wanted)
    listed = tuple(t for t in wanted if t not in too_large)
    shown = ", ".join(str(t) for t in listed) if listed else "none"
    note = (
        "the full list does not fit the shell's response buffer (E2BIG); "
        f"listed sec_tag {shown} one by one: entries on any other sec_tag could not be seen "
        "(the modem cannot enumerate its tags in pieces; the AT host or a larger "
        "CONFIG_AT_SHELL_CMD_RESPONSE_MAX_LEN shows them all)"
    )
    if too_large:
        note += f"; sec_tag {', '.join(str(t) for t in too_large)} could not be listed either"
    return StoreView(tuple(entries), note, listed, tuple(too_large))
