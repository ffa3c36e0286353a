"""Write journal: makes writes and deletes that a power loss interrupted visible to the next run, and keeps a
ledger of the writes that completed.

Before each write or delete, `apply` records an *intent* for the modem slot (sec_tag, type) in a small JSON file
per device; the intent is cleared once the modem acknowledged the operation with OK and it was verified as far as
the firmware allows. An intent still present when the next run plans means the operation was cut (power loss,
reboot, lost link): the plan rewrites that entry unless its content can be proven identical (real SHA-256 match
or equal read-back), whatever the `unverifiable` policy. This is what catches a truncated entry on
placeholder-digest firmware (modem-behaviour.md#placeholder-digests): the listed digest cannot tell it from a
complete one.

Location: `$CREDWARDEN_STATE_DIR/journal/`, else `$XDG_STATE_HOME/credwarden/journal/`, else
`~/.local/state/credwarden/journal/`; one file per device, `imei-<IMEI>.json` (or `uuid-<UUID>.json`). The file
holds digests only, never content. Every change is written atomically (temporary file, fsync, rename, fsync of
the directory) under a lock (thread lock + flock on the directory), so that changes made by other threads and
processes to other slots of the same file are kept.

Write ledger: with placeholder digests (modem-behaviour.md#placeholder-digests) a listed entry proves nothing about
its content, so a re-apply could not tell "what we wrote last time" from "someone else's entry" and, with the default
`unverifiable = "fail"`, refused (exit 6). `apply` therefore records each COMPLETED write whose stored digest the
firmware cannot show: slot -> SHA-256 of the stored form written, time, firmware string; only after the modem
acknowledged it with OK and it was verified as far as the firmware allows (listed with the right type; read back
where readable). On the next plan a placeholder-digest entry whose ledger digest matches the desired content is
skipped ("identical per write ledger"); one with a different digest is rewritten; without a record the
`unverifiable` policy applies. Starting a write or delete drops the slot's record; a delete, or a slot that an
apply finds no longer listed, forgets it. Limit: the ledger only knows what credwarden wrote. Another tool that
rewrites the same slot with the same type on such firmware is invisible (the placeholder digest does not change),
so a ledger skip is "verified by ledger, not by the device".

File format (version 2; version 1 files, without "ledger", are read as well): `{"version": 2, "device":
"imei-...", "intents": {"42/2": {"sec_tag": 42, "type": 2, "operation": "write", "expected_sha256": "...",
"time": "2026-...Z"}}, "ledger": {"42/0": {"sec_tag": 42, "type": 0, "sha256": "...", "time": "...",
"firmware": "mfw_nrf9160_1.2.3"}}}`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from credwarden.errors import UsageError

log = logging.getLogger("credwarden.provision.journal")

STATE_ENV = "CREDWARDEN_STATE_DIR"
JOURNAL_VERSION = 2
READABLE_VERSIONS = (1, 2)
Operation = Literal["write", "delete"]
Slot = tuple[int, int]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_journal_dir() -> Path:
    """Where journals live: `$CREDWARDEN_STATE_DIR/journal`, `$XDG_STATE_HOME/credwarden/journal`, or ~/.local/state."""
    state = os.environ.get(STATE_ENV)
    if state:
        return Path(state) / "journal"
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "credwarden" / "journal"


def device_key(imei: str | None, uuid: str | None) -> str | None:
    """The journal's name for a device (`imei-...` or `uuid-...`), None when neither is known."""
    if imei:
        return "imei-" + _SAFE.sub("_", imei)
    if uuid:
        return "uuid-" + _SAFE.sub("_", uuid)
    return None


@dataclass(frozen=True)
class Intent:
    """One write/delete that was started and not yet confirmed."""

    sec_tag: int  #: modem slot sec_tag (for SLM native TLS: tag*10+type)
    type: int  #: modem slot type
    operation: Operation
    expected_sha256: str | None  #: digest of the stored form the write should produce (None for a delete)
    time: str

    @property
    def slot(self) -> Slot:
        return (self.sec_tag, self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            "sec_tag": self.sec_tag,
            "type": self.type,
            "operation": self.operation,
            "expected_sha256": self.expected_sha256,
            "time": self.time,
        }


@dataclass(frozen=True)
class LedgerRecord:
    """One write that completed (acknowledged, verified as far as the firmware allows)."""

    sec_tag: int  #: modem slot sec_tag
    type: int  #: modem slot type
    sha256: str  #: digest of the stored form written (what real-digest firmware would list)
    time: str
    firmware: str | None  #: the firmware string at the time of the write

    @property
    def slot(self) -> Slot:
        return (self.sec_tag, self.type)

    def to_json(self) -> dict[str, Any]:
        return {
            "sec_tag": self.sec_tag,
            "type": self.type,
            "sha256": self.sha256,
            "time": self.time,
            "firmware": self.firmware,
        }


@dataclass
class _State:
    intents: dict[Slot, Intent]
    ledger: dict[Slot, LedgerRecord]

    def copy(self) -> _State:
        return _State(dict(self.intents), dict(self.ledger))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


class WriteJournal:
    """The intents and the write ledger of one device. `path=None` keeps them in memory only (identity unknown)."""

    def __init__(self, path: Path | None, device: str | None = None) -> None:
        self.path = path
        self.device = device
        self._memory = _State({}, {})

    @classmethod
    def for_device(cls, imei: str | None, uuid: str | None, directory: Path | None = None) -> WriteJournal:
        """The journal of the device with this identity (in memory only when the identity is unknown)."""
        key = device_key(imei, uuid)
        if key is None:
            log.warning("device identity unknown (no IMEI/UUID): interrupted writes cannot be tracked across runs")
            return cls(None)
        return cls((directory or default_journal_dir()) / f"{key}.json", key)

    # -- reading -----------------------------------------------------------------------------------------------

    def pending(self) -> dict[Slot, Intent]:
        """Intents not yet cleared, by modem slot."""
        return self._read().intents

    def ledger(self) -> dict[Slot, LedgerRecord]:
        """Completed writes the firmware cannot prove by digest, by modem slot."""
        return self._read().ledger

    def _read(self) -> _State:
        return self._memory.copy() if self.path is None else self._load()

    def _load(self) -> _State:
        assert self.path is not None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _State({}, {})
        except OSError as exc:
            raise UsageError(f"cannot read the write journal {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            if data.get("version") not in READABLE_VERSIONS:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            intents: dict[Slot, Intent] = {}
            for raw in data["intents"].values():
                intent = Intent(
                    int(raw["sec_tag"]),
                    int(raw["type"]),
                    raw["operation"],
                    raw.get("expected_sha256"),
                    str(raw.get("time", "")),
                )
                if intent.operation not in ("write", "delete"):
                    raise ValueError(f"unknown operation {intent.operation!r}")
                intents[intent.slot] = intent
            ledger: dict[Slot, LedgerRecord] = {}
            for raw in data.get("ledger", {}).values():
                record = LedgerRecord(
                    int(raw["sec_tag"]),
                    int(raw["type"]),
                    str(raw["sha256"]),
                    str(raw.get("time", "")),
                    raw.get("firmware"),
                )
                if len(record.sha256) != 64:
                    raise ValueError(f"bad ledger digest {record.sha256!r}")
                ledger[record.slot] = record
            return _State(intents, ledger)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(
                f"the write journal {self.path} is corrupt ({exc}); inspect it, or delete it to "
                'forget interrupted writes (then use unverifiable = "rewrite" once)'
            ) from None

    # -- changing ----------------------------------------------------------------------------------------------

    def begin(self, slot: Slot, operation: Operation, expected_sha256: str | None) -> None:
        """Record an intent before sending the write/delete (durable when this returns); drops the slot's ledger
        record (what was completed there is about to change)."""
        intent = Intent(slot[0], slot[1], operation, expected_sha256, _stamp())
        with self._changing() as state:
            state.intents[slot] = intent
            state.ledger.pop(slot, None)

    def clear(self, *slots: Slot) -> None:
        """Forget intents (the operation was acknowledged and verified as far as the firmware allows)."""
        with self._changing() as state:
            for slot in slots:
                state.intents.pop(slot, None)

    def complete(self, slot: Slot, sha256: str, firmware: str | None) -> None:
        """A write was acknowledged and verified as far as the firmware allows: clear its intent and record it in
        the ledger (one atomic change)."""
        if len(sha256) != 64:
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        record = LedgerRecord(slot[0], slot[1], sha256.upper(), _stamp(), firmware)
        with self._changing() as state:
            state.intents.pop(slot, None)
            state.ledger[slot] = record

    def forget(self, *slots: Slot) -> None:
        """Drop ledger records (the entry was deleted or is no longer listed)."""
        with self._changing() as state:
            for slot in slots:
                state.ledger.pop(slot, None)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[_State]:
        if self.path is None:
            yield self._memory
            return
        path = self.path
        with _lock_for(path):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                directory = os.open(path.parent, os.O_RDONLY)
                try:
                    fcntl.flock(directory, fcntl.LOCK_EX)  # other processes: one journal change at a time
                    state = self._load()
                    before = state.copy()
                    yield state
                    if state != before:
                        self._store(state)
                finally:
                    os.close(directory)  # releases the lock
            except OSError as exc:
                raise UsageError(f"cannot update the write journal {path}: {exc.strerror}") from None

    def _store(self, state: _State) -> None:
        assert self.path is not None
        if not state.intents and not state.ledger:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            _fsync_dir(self.path.parent)
            return
        data = {
            "version": JOURNAL_VERSION,
            "device": self.device,
            "intents": {f"{tag}/{code}": i.to_json() for (tag, code), i in sorted(state.intents.items())},
            "ledger": {f"{tag}/{code}": r.to_json() for (tag, code), r in sorted(state.ledger.items())},
        }
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
