"""Per-command accounting of the simulated modem: redacted command log (JSON lines) and its summary report."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from credwarden.types import SECRET_TYPES

#: commands whose quoted parameters carry credential material
_CONTENT_COMMAND = re.compile(r"^\s*AT\s*(%CMNG|#XCMNG|%KEYINJECT|%XPMNG)", re.IGNORECASE)
_WRITE_HEAD = re.compile(r"^\s*AT\s*(?:%CMNG|#XCMNG)\s*=\s*0\s*,\s*(\d+)\s*,\s*(\d+)\s*,", re.IGNORECASE)


def digest_label(data: bytes, *, secret: bool) -> str:
    """`<N bytes sha256=...>` (or `<redacted N bytes sha256=...>` for secrets): never the content itself."""
    prefix = "redacted " if secret else ""
    return f"<{prefix}{len(data)} bytes sha256={hashlib.sha256(data).hexdigest()}>"


def redact_command(text: str) -> str:
    """The command with every quoted credential / password replaced by length + digest."""
    if not _CONTENT_COMMAND.match(text) or '"' not in text:
        return text
    match = _WRITE_HEAD.match(text)
    content_secret = match is None or int(match.group(2)) in SECRET_TYPES
    out: list[str] = []
    pos, quoted_index = 0, 0
    while True:
        start = text.find('"', pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos : start + 1])
        end = text.find('"', start + 1)
        body = text[start + 1 : end if end >= 0 else len(text)]
        secret = content_secret if quoted_index == 0 else True
        out.append(digest_label(body.encode("latin-1", errors="replace"), secret=secret))
        if end < 0:
            break
        out.append('"')
        pos, quoted_index = end + 1, quoted_index + 1
    return "".join(out)


def command_kind(text: str) -> str:
    """A short kind for grouping: `%CMNG=0` (with opcode), `+CFUN?`, `AT`, `other`."""
    match = re.match(r"^\s*AT\s*([+%#][A-Za-z0-9_]+|E[01]?|)(=\?|\?|=\s*(\d)?|)", text, re.IGNORECASE)
    if not match:
        return "other"
    name = match.group(1).upper()
    suffix = match.group(2)
    if name == "":
        return "AT"
    if suffix.startswith("=") and suffix != "=?":
        opcode = match.group(3)
        return f"{name}={opcode}" if opcode is not None and name in ("%CMNG", "#XCMNG") else f"{name}="
    return name + suffix


@dataclass(frozen=True)
class CommandRecord:
    """One command as the simulator saw it."""

    t_start: float  #: wall clock (epoch seconds) when the command was complete on input
    t_end: float  #: wall clock when the response was written
    command: str  #: redacted text
    kind: str
    bytes_in: int  #: bytes received for this command (terminator and echo-free)
    bytes_out: int  #: bytes sent in answer (framing included)
    processing_s: float  #: modem processing time (simulated latencies included)
    nvm_write: bool
    result: str  #: final result code, or `none` when it was not sent
    frontend: str
    baud: int | None

    def to_json(self) -> dict[str, Any]:
        """JSON object for the log file."""
        return asdict(self)


class Accounting:
    """In-memory list of `CommandRecord`s, mirrored to a JSON-lines file when configured."""

    def __init__(self, log_file: Path | None = None) -> None:
        self.records: list[CommandRecord] = []
        self._lock = threading.Lock()
        self._handle: TextIO | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._handle = log_file.open("a", encoding="utf-8")

    def add(self, record: CommandRecord) -> None:
        """Append a record (and a line to the log file)."""
        with self._lock:
            self.records.append(record)
            if self._handle is not None:
                self._handle.write(json.dumps(record.to_json()) + "\n")
                self._handle.flush()

    def close(self) -> None:
        """Close the log file."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def summary(self, baud: int | None = None) -> dict[str, Any]:
        """`summarise()` over the records so far."""
        with self._lock:
            return summarise([r.to_json() for r in self.records], baud=baud)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines log; ValueError naming the line for anything else."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(item, dict) or "kind" not in item or "t_start" not in item:
                raise ValueError(f"{path}:{number}: not a simulator command record")
            records.append(item)
    return records


def summarise(records: Iterable[dict[str, Any]], *, baud: int | None = None) -> dict[str, Any]:
    """Totals of a command log: commands by kind, bytes, wire-time bound, processing time, wall time, NVM writes.

    `baud` overrides the rate recorded in the log; the wire time is `(bytes_in + bytes_out) * 10 / baud`.
    """
    items = list(records)
    kinds: Counter[str] = Counter(str(r["kind"]) for r in items)
    bytes_in = sum(int(r.get("bytes_in", 0)) for r in items)
    bytes_out = sum(int(r.get("bytes_out", 0)) for r in items)
    rate = baud or next((int(r["baud"]) for r in items if r.get("baud")), None)
    start = min((float(r["t_start"]) for r in items), default=0.0)
    end = max((float(r.get("t_end", r["t_start"])) for r in items), default=0.0)
    return {
        "commands": len(items),
        "by_kind": dict(sorted(kinds.items())),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "baud": rate,
        "wire_time_s": round((bytes_in + bytes_out) * 10 / rate, 6) if rate else None,
        "processing_s": round(sum(float(r.get("processing_s", 0.0)) for r in items), 6),
        "session_wall_s": round(end - start, 6),
        "nvm_writes": sum(1 for r in items if r.get("nvm_write")),
        "results_lost": sum(1 for r in items if r.get("result") == "none"),
    }
