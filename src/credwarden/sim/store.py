"""The simulated modem's NVM: credential entries plus per-entry NVM write/delete counters, persisted as JSON.

The state file also keeps the board's identity (`sim/identity.py`): one state file, one device.

Secret types (2 private key, 3 PSK) are kept as digest + length only: the modem never returns them, so
the simulator has no reason to hold them and the state file never contains a secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from credwarden.sim.identity import Identity
from credwarden.types import SECRET_TYPES

Origin = Literal["user", "keygen", "factory"]
STATE_FORMAT = 1


def sha256_upper(data: bytes) -> str:
    """SHA-256 as the modem prints it: 64 upper-case hex characters."""
    return hashlib.sha256(data).hexdigest().upper()


@dataclass
class Entry:
    """One stored credential."""

    sec_tag: int
    type: int
    sha: str  #: SHA-256 (upper case) of the bytes stored
    size: int
    content: bytes | None  #: None for secret types (never kept)
    origin: Origin = "user"
    readable: bool = True

    def to_json(self) -> dict[str, Any]:
        """JSON form for the state file."""
        data: dict[str, Any] = {
            "sec_tag": self.sec_tag,
            "type": self.type,
            "sha256": self.sha,
            "size": self.size,
            "origin": self.origin,
            "readable": self.readable,
        }
        if self.content is not None:
            data["content_b64"] = base64.b64encode(self.content).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        """Inverse of `to_json`."""
        raw = data.get("content_b64")
        return cls(
            sec_tag=int(data["sec_tag"]),
            type=int(data["type"]),
            sha=str(data["sha256"]),
            size=int(data["size"]),
            content=base64.b64decode(raw) if raw is not None else None,
            origin=data.get("origin", "user"),
            readable=bool(data.get("readable", True)),
        )


@dataclass
class Counters:
    """NVM operations on one (sec_tag, type), kept after the entry is deleted."""

    writes: int = 0
    deletes: int = 0


def make_entry(
    sec_tag: int, type_code: int, content: bytes, *, origin: Origin = "user", readable: bool = True
) -> Entry:
    """An entry for `content`; secret types keep only the digest and the length."""
    kept = None if type_code in SECRET_TYPES else bytes(content)
    return Entry(sec_tag, type_code, sha256_upper(content), len(content), kept, origin, readable)


@dataclass
class CredentialStore:
    """Entries in insertion order (factory entries last) with counters; thread-safe; optionally file-backed."""

    path: Path | None = None
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    counters: dict[tuple[int, int], Counters] = field(default_factory=dict)
    nvm_writes: int = 0  #: total NVM write operations (writes + deletes) since the state was created
    identity: Identity | None = None  #: the board's identity, kept in the state file (None: not created yet)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def load(cls, path: Path | None) -> CredentialStore:
        """Read `path` if it exists (ValueError naming the file when it is not a state file)."""
        store = cls(path=path)
        if path is None or not path.exists():
            return store
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"unsupported state format {data.get('format')!r}")
            for item in data["entries"]:
                entry = Entry.from_json(item)
                store.entries[(entry.sec_tag, entry.type)] = entry
            for key, value in data.get("counters", {}).items():
                tag, _, code = key.partition(",")
                store.counters[(int(tag), int(code))] = Counters(int(value["writes"]), int(value["deletes"]))
            store.nvm_writes = int(data.get("nvm_writes", 0))
            if data.get("identity") is not None:
                store.identity = Identity.from_json(data["identity"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a usable simulator state file ({exc})") from exc
        return store

    def save(self) -> None:
        """Write the state atomically (temporary file + rename) when file-backed."""
        if self.path is None:
            return
        with self.lock:
            data: dict[str, Any] = {
                "format": STATE_FORMAT,
                "identity": self.identity.to_json() if self.identity is not None else None,
                "nvm_writes": self.nvm_writes,
                "entries": [entry.to_json() for entry in self.entries.values()],
                "counters": {
                    f"{tag},{code}": {"writes": c.writes, "deletes": c.deletes}
                    for (tag, code), c in self.counters.items()
                },
            }
            text = json.dumps(data, indent=1)
            directory = self.path.parent
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def get(self, sec_tag: int, type_code: int) -> Entry | None:
        """The entry or None."""
        with self.lock:
            return self.entries.get((sec_tag, type_code))

    def ordered(self) -> list[Entry]:
        """List order: user/keygen entries in insertion order, then the factory entries."""
        with self.lock:
            values = list(self.entries.values())
        return [e for e in values if e.origin != "factory"] + [e for e in values if e.origin == "factory"]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self.entries)

    def user_usage(self, excluding: tuple[int, int] | None = None) -> tuple[int, int]:
        """(entries, content bytes) outside the factory area, optionally ignoring one key."""
        with self.lock:
            chosen = [e for k, e in self.entries.items() if e.origin != "factory" and k != excluding]
        return len(chosen), sum(e.size for e in chosen)

    def put(self, entry: Entry, *, count: bool = True) -> None:
        """Store (or replace in place) `entry`, count one NVM write, persist."""
        key = (entry.sec_tag, entry.type)
        with self.lock:
            self.entries[key] = entry
            if count:
                self.counters.setdefault(key, Counters()).writes += 1
                self.nvm_writes += 1
            self.save()

    def remove(self, sec_tag: int, type_code: int, *, count: bool = True) -> bool:
        """Delete an entry, count one NVM delete, persist; False when absent."""
        key = (sec_tag, type_code)
        with self.lock:
            if key not in self.entries:
                return False
            del self.entries[key]
            if count:
                self.counters.setdefault(key, Counters()).deletes += 1
                self.nvm_writes += 1
            self.save()
            return True

    def writes_of(self, sec_tag: int, type_code: int) -> int:
        """NVM writes counted for one (sec_tag, type)."""
        with self.lock:
            counter = self.counters.get((sec_tag, type_code))
            return counter.writes if counter else 0
