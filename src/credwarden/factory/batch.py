"""`run_batch`: provision every port of a station concurrently (or, in watch mode, every board plugged in).

Glue between the station settings, the runner, the per-device job and a view. The exit code of the returned
report summarises the batch: 0 all ok / 1 some failed / 8 none reached.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from credwarden.errors import ExitCode, UsageError
from credwarden.factory.ports import PortWatcher, expand_ports
from credwarden.factory.results import BatchSummary, DeviceResult, Status
from credwarden.factory.runner import BatchRunner, Job
from credwarden.factory.station import MAX_DEFAULT_CONCURRENCY, Station
from credwarden.factory.view import BatchView, PlainLineView

log = logging.getLogger(__name__)
#: Seconds boards in progress get after Ctrl-C to stop and restore their CFUN before their ports are closed.
INTERRUPT_GRACE_S = 15.0


@dataclass(frozen=True)
class BatchReport:
    """Every device row of a batch (submission order; watch mode: completion order) and their summary."""

    results: list[DeviceResult]
    summary: BatchSummary
    interrupted: bool = False
    watch: bool = False

    @property
    def exit_code(self) -> ExitCode:
        """The batch's exit code; a watch session that saw no board at all ends with 0."""
        if self.watch and self.summary.total == 0:
            return ExitCode.OK
        return self.summary.exit_code


def run_batch(
    station: Station,
    *,
    view: BatchView | None = None,
    job: Job | None = None,
    stop: threading.Event | None = None,
) -> BatchReport:
    """Provision the station's ports once (or keep watching with `station.watch`) and report per device.

    `job` defaults to the real device job (connect, apply the manifest, keygen, record); tests pass their own.
    `stop` ends watch mode (Ctrl-C does too).
    """
    view = view or PlainLineView()
    if job is None:
        from credwarden.factory.job import DeviceJob

        own_job = DeviceJob.from_station(station)
        try:
            return run_batch(station, view=view, job=own_job, stop=stop)
        finally:
            own_job.close()
    if station.watch:
        return _watch(station, view, job, stop or threading.Event())
    ports = expand_ports(station.ports, station.glob)
    if not ports:
        where = ", ".join(station.glob) if station.glob else "the command line"
        raise UsageError(f"no port to provision: nothing matched {where}")
    runner = BatchRunner(
        job, concurrency=station.effective_concurrency(len(ports)), timeout=station.timeout, listener=view
    )
    view.start()
    interrupted = False
    results: list[DeviceResult] = []
    try:
        results = runner.run(ports)
    except KeyboardInterrupt:
        interrupted = True
        results = runner.collected + runner.interrupt_all(INTERRUPT_GRACE_S)
        seen = {r.port for r in results}
        results += [DeviceResult(p, Status.FAILED, error="not started: interrupted") for p in ports if p not in seen]
        position = {port: i for i, port in enumerate(ports)}
        results.sort(key=lambda r: position.get(r.port, len(ports)))
    summary = BatchSummary.of(results)
    view.stop(summary)
    return BatchReport(results, summary, interrupted)


def _watch(station: Station, view: BatchView, job: Job, stop: threading.Event) -> BatchReport:
    """Provision each board once per plug-in until `stop` is set or Ctrl-C; boards present at start count."""
    if not station.glob:
        raise UsageError("watch mode needs a glob (--ports 'PATTERN' or glob = ... in the station file)")
    watcher = PortWatcher(station.glob, interval=station.poll_interval)
    runner = BatchRunner(
        job, concurrency=station.concurrency or MAX_DEFAULT_CONCURRENCY, timeout=station.timeout, listener=view
    )
    results: list[DeviceResult] = []
    interrupted = False
    view.start()
    try:
        while not stop.is_set():
            appeared, gone = watcher.poll()
            for port in gone:
                log.info("%s: unplugged", port)
            for port in appeared:
                runner.submit(port)
            results.extend(runner.collect(wait=station.poll_interval))
        while runner.pending:  # stop requested: let boards in progress finish
            results.extend(runner.collect(wait=station.poll_interval))
    except KeyboardInterrupt:
        interrupted = True
        results.extend(runner.interrupt_all(INTERRUPT_GRACE_S))
    summary = BatchSummary.of(results)
    view.stop(summary)
    return BatchReport(results, summary, interrupted, watch=True)
