"""Run one job per port concurrently: bounded parallelism, per-device deadlines, progress events.

The runner knows nothing about modems: a job is `job(port, ctx) -> DeviceResult`. It runs in its own thread
(the work is I/O-bound); `ctx.report(...)` publishes progress; when the per-device deadline passes the runner
cancels the job (`ctx.cancelled` is set and cleanup hooks registered with `ctx.on_cancel`, e.g. closing the
port, are called so blocked reads return) and records a `timeout` row without waiting for the thread. A failed
or hung board therefore never holds the others back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from credwarden.errors import CredwardenError
from credwarden.factory.results import DeviceResult, Stage, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    """A stage change or counter update of one device (what the live view renders)."""

    port: str
    stage: Stage
    detail: str = ""
    elapsed_s: float = 0.0
    bytes_out: int = 0
    bytes_in: int = 0
    result: DeviceResult | None = None  #: set with the final DONE / FAILED event


Listener = Callable[[ProgressEvent], None]


class JobContext:
    """What a running job sees: its deadline, a cancel flag, and a progress reporter."""

    def __init__(self, port: str, timeout: float, listener: Listener) -> None:
        self.port = port
        self.timeout = timeout
        self.started = time.monotonic()
        self.cancelled = threading.Event()  #: given up: the runner closed what the job registered
        self.interrupted = threading.Event()  #: Ctrl-C: stop at the next safe point, put the device back as found
        self.stage = Stage.QUEUED
        self.detail = ""
        self.bytes_out = 0
        self.bytes_in = 0
        self._listener = listener
        self._cleanups: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float:
        """Seconds left before the per-device deadline (never negative)."""
        return max(0.0, self.timeout - self.elapsed)

    def report(
        self,
        stage: Stage | None = None,
        detail: str | None = None,
        *,
        bytes_out: int | None = None,
        bytes_in: int | None = None,
    ) -> None:
        """Publish a stage change and/or byte counters (no-op once cancelled)."""
        if self.cancelled.is_set():
            return
        if stage is not None:
            self.stage = stage
            self.detail = detail or ""
        elif detail is not None:
            self.detail = detail
        if bytes_out is not None:
            self.bytes_out = bytes_out
        if bytes_in is not None:
            self.bytes_in = bytes_in
        self._emit()

    def on_cancel(self, cleanup: Callable[[], None]) -> None:
        """Register a callable run (from the runner's thread) when the job is cancelled."""
        with self._lock:
            if not self.cancelled.is_set():
                self._cleanups.append(cleanup)
                return
        _run_cleanup(cleanup)

    def interrupt(self) -> None:
        """Ask the job to stop at its next safe point (it restores the device's CFUN before the port closes)."""
        self.interrupted.set()

    def check_interrupt(self) -> None:
        """Raise KeyboardInterrupt in the job's thread when Ctrl-C asked it to stop (call at safe points only)."""
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
            cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            _run_cleanup(cleanup)

    def _emit(self, result: DeviceResult | None = None) -> None:
        event = ProgressEvent(self.port, self.stage, self.detail, self.elapsed, self.bytes_out, self.bytes_in, result)
        try:
            self._listener(event)
        except Exception:  # a broken view must not break provisioning
            log.exception("progress listener failed")


def _run_cleanup(cleanup: Callable[[], None]) -> None:
    try:
        cleanup()
    except Exception as exc:
        log.debug("cancel hook failed: %s", exc)


Job = Callable[[str, JobContext], DeviceResult]


@dataclass
class _Slot:
    port: str
    index: int
    ctx: JobContext | None = None
    deadline: float | None = None
    done: bool = False


class BatchRunner:
    """Bounded concurrent execution of `job` over ports, with per-device deadlines."""

    def __init__(self, job: Job, *, concurrency: int, timeout: float, listener: Listener | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if timeout <= 0:
            raise ValueError("the per-device timeout must be positive")
        self._job = job
        self._timeout = timeout
        self._listener: Listener = listener or (lambda _event: None)
        self._slots_free = threading.Semaphore(concurrency)
        self._finished: queue.Queue[tuple[_Slot, DeviceResult]] = queue.Queue()
        self._lock = threading.Lock()
        self._active: list[_Slot] = []
        self._count = 0
        self.collected: list[DeviceResult] = []  #: every row returned by `collect` so far (kept across Ctrl-C)

    @property
    def pending(self) -> int:
        """Jobs submitted whose result was not collected yet."""
        with self._lock:
            return len(self._active)

    def submit(self, port: str) -> None:
        """Queue one job; it starts as soon as a concurrency slot is free."""
        with self._lock:
            slot = _Slot(port, self._count)
            self._count += 1
            self._active.append(slot)
        self._listener(ProgressEvent(port, Stage.QUEUED))
        thread = threading.Thread(target=self._work, args=(slot,), name=f"cw-device-{slot.index}", daemon=True)
        thread.start()

    def collect(self, wait: float) -> list[DeviceResult]:
        """Results that finished (or timed out) so far; waits up to `wait` s for the first one."""
        out: list[DeviceResult] = []
        end = time.monotonic() + wait
        while True:
            expired = self._expire_overdue()
            out.extend(expired)
            self.collected.extend(expired)
            try:
                slot, result = self._finished.get(timeout=self._next_wait(end) if not out else 0)
            except queue.Empty:
                if out or time.monotonic() >= end:
                    return out
                continue
            if self._retire(slot):
                out.append(result)
                self.collected.append(result)

    def run(self, ports: Iterable[str]) -> list[DeviceResult]:
        """Submit every port, wait for all, return results in submission order."""
        order = list(ports)
        for port in order:
            self.submit(port)
        results: list[DeviceResult] = []
        while self.pending:
            results.extend(self.collect(wait=1.0))
        position = {port: i for i, port in enumerate(order)}
        return sorted(results, key=lambda r: position.get(r.port, len(order)))

    def cancel_all(self) -> list[DeviceResult]:
        """Give up on every job still pending (their ports are closed at once); return their rows as failed."""
        with self._lock:
            slots = [s for s in self._active if not s.done]
        out: list[DeviceResult] = []
        for slot in slots:
            if slot.ctx is not None:
                slot.ctx.cancel()
            if self._retire(slot):
                out.append(self._cancelled_result(slot, Status.FAILED, "interrupted before finishing"))
        return out

    def interrupt_all(self, grace: float) -> list[DeviceResult]:
        """Ctrl-C: boards not started yet are dropped; running jobs stop at their next safe point and put their
        device back in the CFUN it was found in, for up to `grace` seconds; whatever is still running then (or
        after a second Ctrl-C) is given up. Returns every remaining row."""
        with self._lock:
            slots = [s for s in self._active if not s.done]
        out: list[DeviceResult] = []
        for slot in slots:
            if slot.ctx is None:
                if self._retire(slot):
                    out.append(DeviceResult(slot.port, Status.FAILED, error="not started: interrupted"))
            else:
                slot.ctx.interrupt()
        end = time.monotonic() + grace
        try:
            while self.pending and time.monotonic() < end:
                try:
                    slot, result = self._finished.get(timeout=min(0.1, max(0.0, end - time.monotonic())))
                except queue.Empty:
                    continue
                if self._retire(slot):
                    out.append(result)
        except KeyboardInterrupt:
            log.warning("second Ctrl-C: closing the ports of the boards still running")
        return out + self.cancel_all()

    # -- internals -------------------------------------------------------------------------------------

    def _work(self, slot: _Slot) -> None:
        with self._slots_free:
            with self._lock:
                if slot.done:  # cancelled or interrupted while queued
                    return
                ctx = JobContext(slot.port, self._timeout, self._listener)
                slot.ctx = ctx
                slot.deadline = ctx.started + self._timeout
            ctx.report(Stage.DETECT)
            try:
                result = self._job(slot.port, ctx)
            except CredwardenError as exc:
                result = DeviceResult(slot.port, Status.FAILED, error=str(exc))
            except Exception as exc:  # a bug in a job must not take the batch down
                log.exception("job for %s crashed", slot.port)
                result = DeviceResult(slot.port, Status.FAILED, error=f"internal error: {exc!r}")
            if not result.elapsed_s:
                result.elapsed_s = ctx.elapsed
            if ctx.cancelled.is_set():
                return
            ctx.stage = Stage.DONE if result.ok else Stage.FAILED
            ctx.detail = result.status.value
            ctx.bytes_out, ctx.bytes_in = result.bytes_out, result.bytes_in
            ctx._emit(result)
            self._finished.put((slot, result))

    def _retire(self, slot: _Slot) -> bool:
        with self._lock:
            if slot.done:
                return False
            slot.done = True
            self._active.remove(slot)
            return True

    def _next_wait(self, end: float) -> float:
        now = time.monotonic()
        wait = end - now
        with self._lock:
            deadlines = [s.deadline for s in self._active if s.deadline is not None and not s.done]
        if deadlines:
            wait = min(wait, min(deadlines) - now)
        return max(0.01, wait)

    def _expire_overdue(self) -> list[DeviceResult]:
        now = time.monotonic()
        with self._lock:
            overdue = [s for s in self._active if s.deadline is not None and now >= s.deadline and not s.done]
        out: list[DeviceResult] = []
        for slot in overdue:
            assert slot.ctx is not None
            stage = slot.ctx.stage
            slot.ctx.cancel()
            if self._retire(slot):
                reason = f"no result within the per-device timeout of {self._timeout:g} s (stage {stage})"
                out.append(self._cancelled_result(slot, Status.TIMEOUT, reason))
        return out

    def _cancelled_result(self, slot: _Slot, status: Status, reason: str) -> DeviceResult:
        ctx = slot.ctx
        result = DeviceResult(
            slot.port,
            status,
            elapsed_s=ctx.elapsed if ctx else 0.0,
            bytes_out=ctx.bytes_out if ctx else 0,
            bytes_in=ctx.bytes_in if ctx else 0,
            error=reason,
        )
        self._listener(
            ProgressEvent(
                slot.port,
                Stage.FAILED,
                result.status.value,
                result.elapsed_s,
                result.bytes_out,
                result.bytes_in,
                result,
            )
        )
        return result
