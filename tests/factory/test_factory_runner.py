"""The concurrent runner over abstract jobs: concurrency bound, deadlines, crash isolation, result order."""

from __future__ import annotations

import threading
import time

import pytest

from credwarden.errors import ExitCode, TransportError
from credwarden.factory.results import BatchSummary, DeviceResult, Stage, Status
from credwarden.factory.runner import BatchRunner, JobContext, ProgressEvent


def _ok(port: str, ctx: JobContext) -> DeviceResult:
    ctx.report(Stage.PLAN)
    ctx.report(Stage.WRITE, "1/1", bytes_out=10, bytes_in=4)
    return DeviceResult(port, Status.APPLIED, imei="350000000000001", bytes_out=10, bytes_in=4)


def test_results_come_back_in_submission_order_with_events() -> None:
    events: list[ProgressEvent] = []
    lock = threading.Lock()

    def listener(event: ProgressEvent) -> None:
        with lock:
            events.append(event)

    runner = BatchRunner(_ok, concurrency=3, timeout=5, listener=listener)
    ports = [f"p{i}" for i in range(6)]
    results = runner.run(ports)
    assert [r.port for r in results] == ports
    assert all(r.status is Status.APPLIED and r.elapsed_s > 0 for r in results)
    stages = [e.stage for e in events if e.port == "p0"]
    assert stages == [Stage.QUEUED, Stage.DETECT, Stage.PLAN, Stage.WRITE, Stage.DONE]
    final = [e for e in events if e.result is not None]
    assert len(final) == 6


def test_concurrency_is_bounded() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def job(port: str, ctx: JobContext) -> DeviceResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(0.05)
        with lock:
            running -= 1
        return DeviceResult(port, Status.UNCHANGED)

    results = BatchRunner(job, concurrency=2, timeout=5).run([f"p{i}" for i in range(6)])
    assert len(results) == 6
    assert peak == 2


def test_hung_job_times_out_without_holding_others_and_cancel_hooks_run() -> None:
    closed = threading.Event()

    def job(port: str, ctx: JobContext) -> DeviceResult:
        if port == "hung":
            ctx.on_cancel(closed.set)
            ctx.report(Stage.PLAN)
            ctx.cancelled.wait(10)  # stands for a read blocked until the port is closed
            return DeviceResult(port, Status.APPLIED)
        return DeviceResult(port, Status.APPLIED)

    started = time.monotonic()
    results = BatchRunner(job, concurrency=3, timeout=0.3).run(["a", "hung", "b"])
    assert time.monotonic() - started < 5
    by_port = {r.port: r for r in results}
    assert by_port["a"].ok and by_port["b"].ok
    assert by_port["hung"].status is Status.TIMEOUT
    assert "stage plan" in (by_port["hung"].error or "")
    assert closed.is_set()


def test_crashing_job_becomes_a_failed_row() -> None:
    def job(port: str, ctx: JobContext) -> DeviceResult:
        if port == "bad":
            raise TransportError("cannot open bad")
        if port == "bug":
            raise KeyError("oops")
        return DeviceResult(port, Status.APPLIED)

    results = BatchRunner(job, concurrency=2, timeout=5).run(["bad", "good", "bug"])
    by_port = {r.port: r for r in results}
    assert by_port["bad"].status is Status.FAILED and "cannot open bad" in (by_port["bad"].error or "")
    assert by_port["bug"].status is Status.FAILED and "internal error" in (by_port["bug"].error or "")
    assert BatchSummary.of(results).exit_code is ExitCode.FAILURE


def test_cancel_all_marks_pending_jobs() -> None:
    gate = threading.Event()

    def job(port: str, ctx: JobContext) -> DeviceResult:
        gate.wait(5)
        return DeviceResult(port, Status.APPLIED)

    runner = BatchRunner(job, concurrency=1, timeout=30)
    runner.submit("x")
    runner.submit("y")
    time.sleep(0.05)
    rows = runner.cancel_all()
    gate.set()
    assert sorted(r.port for r in rows) == ["x", "y"]
    assert all(r.status is Status.FAILED and r.error for r in rows)
    assert runner.pending == 0


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        BatchRunner(_ok, concurrency=0, timeout=1)
    with pytest.raises(ValueError):
        BatchRunner(_ok, concurrency=1, timeout=0)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.APPLIED, Status.UNCHANGED], ExitCode.OK),
        ([Status.APPLIED, Status.VERIFY_FAILED], ExitCode.FAILURE),
        ([Status.APPLIED, Status.NO_ANSWER], ExitCode.FAILURE),
        ([Status.NO_ANSWER, Status.UNREACHABLE], ExitCode.NONE_REACHED),
        ([], ExitCode.NONE_REACHED),
    ],
)
def test_summary_exit_code(statuses: list[Status], code: ExitCode) -> None:
    summary = BatchSummary.of([DeviceResult(f"p{i}", s) for i, s in enumerate(statuses)])
    assert summary.exit_code is code
    assert summary.to_json()["exit_code"] == int(code)


def test_result_json_schema_is_stable() -> None:
    row = DeviceResult("/dev/ttyACM0", Status.UNCHANGED, imei="351358811111111", elapsed_s=1.23456)
    data = row.to_json()
    assert list(data) == [
        "port",
        "imei",
        "uuid",
        "ok",
        "status",
        "actions",
        "elapsed_s",
        "bytes_out",
        "bytes_in",
        "error",
    ]
    assert data["ok"] is True and data["status"] == "unchanged" and data["elapsed_s"] == 1.235
    summary = BatchSummary.of([row, DeviceResult("b", Status.NO_ANSWER)])
    assert summary.describe() == "2 devices: 1 ok (0 applied, 1 unchanged), 1 failed (no_answer 1)"


def test_ctrl_c_cancels_running_boards_and_still_summarises(tmp_path: object) -> None:
    import _thread

    from credwarden.factory.batch import run_batch
    from credwarden.factory.station import Station

    def job(port: str, ctx: JobContext) -> DeviceResult:
        if port == "p0":
            _thread.interrupt_main()  # what Ctrl-C does to the main thread
        # A cooperative job: it stops when Ctrl-C asks it to (or when the runner gives up on it), however slowly
        # the main thread gets to the interrupt on a loaded machine.
        deadline = time.monotonic() + 60
        while not (ctx.interrupted.is_set() or ctx.cancelled.is_set()) and time.monotonic() < deadline:
            time.sleep(0.01)
        if ctx.interrupted.is_set():
            return DeviceResult(port, Status.FAILED, error="interrupted (Ctrl-C)")
        return DeviceResult(port, Status.APPLIED)

    report = run_batch(Station(ports=["p0", "p1"], record=False), view=_Quiet(), job=job)
    assert report.interrupted
    assert sorted(r.port for r in report.results) == ["p0", "p1"]
    assert all(r.status is Status.FAILED and "interrupted" in (r.error or "") for r in report.results)
    assert report.exit_code is ExitCode.FAILURE


class _Quiet:
    def __call__(self, event: ProgressEvent) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self, summary: BatchSummary | None) -> None:
        return None
