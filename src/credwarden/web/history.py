"""Per-day counts per health group for the sparklines: computed by SQL, kept in process memory for finished days.

Finished days do not change, so the history is computed once (in a background thread at start-up, a few seconds
at fleet size) and again when the date changes; today's point is always the live count of the overview. The
server never writes anything to the inventory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine

from credwarden.inventory.drift import ExpectedSlot
from credwarden.web import sql
from credwarden.web.health import GROUPS

log = logging.getLogger(__name__)


def accumulate(deltas: Sequence[tuple[int, str, int]], days: int) -> dict[str, list[int]]:
    """Running sums of (day, group, delta) events: the count of every group at the end of each day."""
    counts = {g: [0] * days for g in GROUPS}
    change = {g: [0] * days for g in GROUPS}
    for day, group, delta in deltas:
        if 0 <= day < days and group in change:
            change[group][day] += delta
    for group in GROUPS:
        running = 0
        for i in range(days):
            running += change[group][i]
            counts[group][i] = running
    return counts


@dataclass(frozen=True)
class DailyHistory:
    """Counts per group at the end of each finished day, oldest first (`first_day` .. `first_day + days - 1`)."""

    first_day: date
    days: int
    counts: dict[str, list[int]]

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)


class HistoryCache:
    """The finished days' history, computed on demand in a background thread (thread-safe)."""

    def __init__(
        self,
        engine: Engine,
        expected: Sequence[ExpectedSlot],
        *,
        days: int,
        expiring_days: int,
        clock: Callable[[], datetime],
        silent_after: timedelta | None = None,
    ) -> None:
        """`silent_after`: report silence that counts as silent (None: no field reports, nobody is silent)."""
        self._engine = engine
        self._expected = tuple(expected)
        self._days = days
        self._expiring_days = expiring_days
        self._silent_after = silent_after
        self._clock = clock
        self._lock = threading.Lock()
        self._history: DailyHistory | None = None
        self._computing_for: date | None = None
        self._failed: str | None = None
        self.last_seconds: float | None = None

    def _wanted_first_day(self) -> date:
        today = self._clock().astimezone(UTC).date()
        return today - timedelta(days=self._days)

    def get(self) -> tuple[str, DailyHistory | None]:
        """(status, history): status `ready`, `computing` (a thread was started if needed) or `failed`."""
        first = self._wanted_first_day()
        with self._lock:
            current = self._history
            if current is not None and current.first_day == first:
                return "ready", current
            if self._failed is not None and self._computing_for == first:
                return "failed", None
            if self._computing_for != first:
                self._computing_for = first
                self._failed = None
                threading.Thread(target=self._compute, args=(first,), name="credwarden-history", daemon=True).start()
        return "computing", None

    def compute_now(self) -> DailyHistory:
        """Compute (or return) the history in the calling thread."""
        first = self._wanted_first_day()
        with self._lock:
            if self._history is not None and self._history.first_day == first:
                return self._history
            self._computing_for = first
        self._compute(first)
        with self._lock:
            if self._history is None or self._history.first_day != first:
                raise RuntimeError(self._failed or "history not computed")
            return self._history

    def _compute(self, first: date) -> None:
        started = datetime.now(UTC)
        origin = datetime.combine(first, time(0), tzinfo=UTC)  # day index 0 also collects everything before it
        try:
            with self._engine.connect() as conn, conn.begin():
                deltas = sql.daily_deltas(
                    conn, self._expected, origin, self._days, self._expiring_days, self._silent_after
                )
        except Exception as exc:  # reported on the page and in /healthz; the overview still works without it
            log.warning("history computation failed: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            with self._lock:
                if self._computing_for == first:
                    self._failed = type(exc).__name__
            return
        history = DailyHistory(first, self._days, accumulate(deltas, self._days))
        with self._lock:
            if self._computing_for == first:
                self._history = history
                self.last_seconds = (datetime.now(UTC) - started).total_seconds()
