"""Refused reports: counted by reason, and a sample of each reason kept for inspection (never the whole
payload, never anything that looks like key material)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from credwarden.inventory.records import scrub_reason
from credwarden.report.errors import REASONS

#: Samples kept in memory per reason, and written to the sample file per reason and run.
SAMPLES_IN_MEMORY = 20
SAMPLES_PER_RUN = 100
#: Characters of a payload kept in a sample.
SAMPLE_CHARS = 400


@dataclass(frozen=True)
class Rejection:
    """One refused report."""

    reason: str
    detail: str
    source: str  #: `mqtt:<topic>`, `http`, `import:<file>`
    at: datetime
    excerpt: str

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "excerpt": self.excerpt,
        }


def excerpt(payload: bytes | str) -> str:
    """The start of a payload as safe printable text (PEM blocks and long hex/base64 runs redacted)."""
    text = payload.decode("ascii", errors="replace") if isinstance(payload, bytes) else payload
    text = "".join(c if c.isprintable() or c in "\r\n" else "?" for c in text[: SAMPLE_CHARS * 2])
    return (scrub_reason(text) or "")[:SAMPLE_CHARS]


class RejectionLog:
    """Counts and samples of refused reports (thread-safe); appended to a JSON-lines file when one is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.counts = dict.fromkeys(REASONS, 0)
        self.samples: dict[str, deque[Rejection]] = {r: deque(maxlen=SAMPLES_IN_MEMORY) for r in REASONS}
        self._written = dict.fromkeys(REASONS, 0)
        self._lock = threading.Lock()

    def record(self, reason: str, detail: str, source: str, payload: bytes | str, at: datetime) -> Rejection:
        item = Rejection(reason, scrub_reason(detail) or "", source, at, excerpt(payload))
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + 1
            self.samples.setdefault(reason, deque(maxlen=SAMPLES_IN_MEMORY)).append(item)
            if self.path is not None and self._written.get(reason, 0) < SAMPLES_PER_RUN:
                self._written[reason] = self._written.get(reason, 0) + 1
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(item.to_json(), sort_keys=True) + "\n")
        return item

    @property
    def total(self) -> int:
        return sum(self.counts.values())
