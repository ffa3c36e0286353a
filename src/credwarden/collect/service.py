"""`credwarden collect`: reports in from MQTT and HTTP, batched into the inventory, alerts out by webhook.

Threads: paho's network thread (MQTT deliveries are parsed there and queued), uvicorn's (HTTP), the webhook
sender's, and the caller's, which runs `Collector.run`: it takes batches off the queue, stores each in one
transaction (`ReportPipeline`), then acknowledges the messages and answers the HTTP requests, notifies the
alerts, and periodically looks for silent devices and refreshes the fleet gauge. A database error keeps the
batch (nothing acknowledged) and retries with backoff; a report that breaks the pipeline is refused alone.
Library code: events go to `on_event`, the CLI renders them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credwarden.collect.broker import DEFAULT_TOPIC, BrokerConfig, imei_in_topic
from credwarden.collect.expected import ManifestExpectations
from credwarden.collect.health import slot_label
from credwarden.collect.http_api import HttpServer, Outcome, build_app
from credwarden.collect.intake import accept_payload
from credwarden.collect.metrics import CollectorMetrics
from credwarden.collect.mqtt_intake import DEFAULT_SESSION_EXPIRY_S, Delivery, MqttIntake
from credwarden.collect.pipeline import BatchResult, ReportPipeline, Rules
from credwarden.collect.rejections import RejectionLog
from credwarden.collect.webhooks import Notice, WebhookSender, alert_body, shown_url
from credwarden.errors import CredwardenError, TransportError
from credwarden.inventory.errors import InventoryError
from credwarden.inventory.field_alerts import AlertRow, fleet_state_counts, mark_notified, unnotified_alerts
from credwarden.inventory.field_reports import IncomingReport
from credwarden.inventory.store import Inventory
from credwarden.provision.journal import STATE_ENV
from credwarden.report.envelope import Envelope
from credwarden.report.errors import UNPARSABLE, ReportRejected
from credwarden.report.model import FieldReport

DEFAULT_BATCH = 500
STATE_SUBDIR = "collect"
DEFAULT_BATCH_WAIT_S = 0.05
#: Seconds between status lines while reports arrive.
STATUS_EVERY_S = 60.0


@dataclass(frozen=True)
class CollectorOptions:
    """Everything `collect` was asked to do (validated by the caller)."""

    db: str | None = None
    broker: BrokerConfig | None = None
    topic: str = DEFAULT_TOPIC
    client_id: str | None = None
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    manifest: Path | None = None
    webhooks: tuple[str, ...] = ()
    http: tuple[str, int] | None = None
    token: str | None = field(default=None, repr=False)
    rules: Rules = field(default_factory=Rules)
    batch_size: int = DEFAULT_BATCH
    batch_wait_s: float = DEFAULT_BATCH_WAIT_S
    dead_letter: Path | None = None
    rejects: Path | None = None
    silence_check_s: float = 60.0
    fleet_refresh_s: float = 5.0


@dataclass(frozen=True)
class CollectorEvent:
    """Something the user may want to see: `status`, `alert`, `resolved`, `rejected`, `problem`, `webhook`."""

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectorSummary:
    """What a run did (the `--json` summary)."""

    started_at: datetime
    stopped_at: datetime | None = None
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, int] = field(default_factory=dict)
    alerts: Counter[str] = field(default_factory=Counter)
    snapshots: int = 0
    webhooks_delivered: int = 0
    webhooks_dead_lettered: int = 0
    broker: str | None = None
    http: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at),
            "reports": sum(self.accepted.values()),
            "reports_by_transport": dict(self.accepted),
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "snapshots": self.snapshots,
            "alerts": dict(self.alerts),
            "webhooks_delivered": self.webhooks_delivered,
            "webhooks_dead_lettered": self.webhooks_dead_lettered,
            "broker": self.broker,
            "http": self.http,
        }


def default_state_dir() -> Path:
    """Where the dead-letter and rejected-sample files go by default (next to the write journals)."""
    state = os.environ.get(STATE_ENV)
    if state:
        return Path(state) / STATE_SUBDIR
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "credwarden" / STATE_SUBDIR


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass
class _Work:
    incoming: IncomingReport
    source: str
    payload: bytes | str
    arrived: float
    ack: Callable[[], None] | None = None
    future: Future[Outcome] | None = None


class Collector:
    """One collector process (see the module docstring)."""

    def __init__(self, options: CollectorOptions, *, on_event: Callable[[CollectorEvent], None]) -> None:
        self.options = options
        self.on_event = on_event
        self.metrics = CollectorMetrics()
        self.rejections = RejectionLog(options.rejects)
        self.summary = CollectorSummary(datetime.now(UTC))
        # bounded: when storing falls behind, paho's thread waits here and TCP slows the broker down
        self._queue: queue.Queue[_Work] = queue.Queue(maxsize=max(1000, options.batch_size * 4))
        self._notified: queue.Queue[tuple[int, bool]] = queue.Queue()
        self._accepting = threading.Event()
        self._mqtt: MqttIntake | None = None
        self._http: HttpServer | None = None
        self._webhooks: WebhookSender | None = None
        self.http_url: str | None = None

    # -- intake (any thread) ---------------------------------------------------------------------------------

    def submit(self, envelope: Envelope) -> Future[Outcome]:
        """Queue one report received over HTTP; the future resolves once it is stored or refused."""
        future: Future[Outcome] = Future()
        try:
            report = accept_payload(envelope.payload, claimed_imei=envelope.imei_hint, where="envelope deviceId")
        except ReportRejected as exc:
            self._reject(exc, "http", envelope.payload)
            future.set_result(Outcome(False, exc.code, str(exc)))
            return future
        if not self._accepting.is_set():
            future.set_result(Outcome(False, None, "the collector is stopping; send again later"))
            return future
        work = _Work(self._incoming(report, "http"), "http", envelope.payload, time.monotonic(), None, future)
        try:
            self._queue.put_nowait(work)  # never block the HTTP event loop
        except queue.Full:
            future.set_result(Outcome(False, None, "the collector is busy; send again later"))
        return future

    def _on_delivery(self, delivery: Delivery) -> None:
        if not self._accepting.is_set():
            return  # not acknowledged: the broker delivers it again to the next session
        source = f"mqtt:{delivery.topic}"
        try:
            report = accept_payload(
                delivery.payload, claimed_imei=imei_in_topic(delivery.topic), where=f"topic {delivery.topic}"
            )
        except ReportRejected as exc:
            self._reject(exc, source, delivery.payload)
            self._ack(delivery)
            return
        work = _Work(self._incoming(report, "mqtt"), source, delivery.payload, time.monotonic())
        work.ack = lambda: self._ack(delivery)
        while self._accepting.is_set():  # not acknowledged when dropped at shutdown: delivered again later
            try:
                self._queue.put(work, timeout=0.5)
                return
            except queue.Full:
                continue

    def _ack(self, delivery: Delivery) -> None:
        if self._mqtt is not None:
            self._mqtt.ack(delivery)

    @staticmethod
    def _incoming(report: FieldReport, carrier: str) -> IncomingReport:
        return IncomingReport(report, "sms" if report.form == "sms" else carrier, datetime.now(UTC))

    def _reject(self, exc: ReportRejected, source: str, payload: bytes | str) -> None:
        self.rejections.record(exc.code, str(exc), source, payload, datetime.now(UTC))
        self.metrics.rejected.labels(exc.code).inc()
        self.on_event(CollectorEvent("rejected", f"rejected ({exc.code}) from {source}: {exc}", {"reason": exc.code}))

    def _on_mqtt_status(self, kind: str, message: str) -> None:
        self.metrics.connected.set(1 if self._mqtt is not None and self._mqtt.connected else 0)
        self.on_event(CollectorEvent("status", message, {"broker": kind}))

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "broker": None
            if self._mqtt is None
            else {"url": self._mqtt.broker.display, "connected": self._mqtt.connected},
            "queued": self._queue.qsize(),
        }

    # -- the main loop -------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> CollectorSummary:
        """Collect until `stop` is set; then store what is queued, stop the intakes and notifiers, return."""
        options = self.options
        inventory = Inventory.open(options.db)
        try:
            expectations = ManifestExpectations(options.manifest) if options.manifest is not None else None
            pipeline = ReportPipeline(inventory, rules=options.rules, expectations=expectations)
            self._start_notifiers()
            self._resend_unnotified(inventory)
            self._accepting.set()
            self._start_intakes()
            self._loop(stop, inventory, pipeline, expectations)
        finally:
            self._shutdown(inventory)
        return self.summary

    def _start_notifiers(self) -> None:
        options = self.options
        if options.webhooks:
            dead_letter = options.dead_letter or default_state_dir() / "dead-letter.jsonl"
            self._webhooks = WebhookSender(
                options.webhooks,
                dead_letter=dead_letter,
                on_done=lambda notice, _ok: self._notified.put((notice.alert_id, notice.resolved)),
                on_event=self._on_webhook,
            )
            self._webhooks.start()

    def _on_webhook(self, result: str, url: str) -> None:
        self.metrics.webhooks.labels(result).inc()
        if result == "dead-lettered":
            self.on_event(
                CollectorEvent("webhook", f"webhook {shown_url(url)} failed; notice kept in the dead-letter file")
            )

    def _start_intakes(self) -> None:
        options = self.options
        if options.http is not None:
            app = build_app(
                submit=self.submit,
                reject=lambda exc, body: self._reject(exc, "http", body),
                metrics=self.metrics,
                token=options.token,
                health=self.health,
            )
            self._http = HttpServer(app, *options.http)
            self._http.start()
            self.http_url = self._http.url
            self.summary.http = self.http_url
            auth = " (bearer token required)" if options.token else ""
            self.on_event(CollectorEvent("status", f"HTTP intake on {self.http_url}: POST /ingest, GET /metrics{auth}"))
        if options.broker is not None:
            self._mqtt = MqttIntake(
                options.broker,
                options.topic,
                on_delivery=self._on_delivery,
                on_status=self._on_mqtt_status,
                client_id=options.client_id,
                session_expiry_s=options.session_expiry_s,
                receive_maximum=max(100, options.batch_size * 4),
            )
            self.summary.broker = options.broker.display
            session = (
                f"persistent session {options.client_id!r}"
                if options.client_id
                else "no --client-id: messages published while stopped are not kept"
            )
            self.on_event(
                CollectorEvent("status", f"connecting to {options.broker.display}, topic {options.topic} ({session})")
            )
            self._mqtt.start()

    def _loop(
        self,
        stop: threading.Event,
        inventory: Inventory,
        pipeline: ReportPipeline,
        expectations: ManifestExpectations | None,
    ) -> None:
        options = self.options
        next_silence = time.monotonic() + min(options.silence_check_s, 5.0)
        next_fleet = time.monotonic()
        next_status = time.monotonic() + STATUS_EVERY_S
        retry: list[_Work] = []
        delay = 0.5
        while not stop.is_set():
            if self._mqtt is not None and self._mqtt.fatal is not None:
                raise TransportError(self._mqtt.fatal)
            batch = retry or self._take_batch(0.2)
            if batch:
                if self._store(pipeline, batch):
                    retry, delay = [], 0.5
                else:
                    retry = batch
                    stop.wait(delay)
                    delay = min(delay * 2, 30.0)
            self._mark_notified(inventory)
            if expectations is not None:
                for problem in expectations.take_problems():
                    self.on_event(CollectorEvent("problem", problem))
            now = time.monotonic()
            if now >= next_silence:
                next_silence = now + options.silence_check_s
                self._check_silence(pipeline)
            if now >= next_fleet:
                next_fleet = now + options.fleet_refresh_s
                self._refresh_fleet(inventory)
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                self._status_line()
        # stopping: take no more, store (and acknowledge, answer) what is queued; the intakes close afterwards
        self._accepting.clear()
        leftover = retry
        for _ in range(3):
            while leftover or not self._queue.empty():
                batch = leftover or self._take_batch(0.0)
                leftover = []
                if batch and not self._store(pipeline, batch):
                    break
            else:
                break
        self._mark_notified(inventory)

    def _take_batch(self, timeout_s: float) -> list[_Work]:
        try:
            first = self._queue.get(timeout=timeout_s) if timeout_s > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.options.batch_wait_s
        while len(batch) < self.options.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        return batch

    def _store(self, pipeline: ReportPipeline, batch: list[_Work]) -> bool:
        """Store a batch; False when the database failed (nothing was acknowledged: retry later)."""
        try:
            result = pipeline.process([w.incoming for w in batch])
        except InventoryError as exc:
            self.on_event(CollectorEvent("problem", f"inventory: {exc}; the batch is kept and retried"))
            return False
        except (CredwardenError, ValueError) as exc:
            if len(batch) > 1:
                return all([self._store(pipeline, [w]) for w in batch])
            self._finish_rejected(batch[0], ReportRejected(UNPARSABLE, f"cannot be stored: {exc}"))
            return True
        self._finish(batch, result)
        return True

    def _finish(self, batch: list[_Work], result: BatchResult) -> None:
        done = time.monotonic()
        self.metrics.batch.observe(len(batch))
        for work, stored in zip(batch, result.stored, strict=True):
            if stored.rejection is not None:
                self._finish_rejected(work, stored.rejection)
                continue
            self.metrics.reports.labels(work.incoming.transport).inc()
            self.metrics.latency.observe(done - work.arrived)
            self.summary.accepted[work.incoming.transport] += 1
            self.summary.snapshots += 1 if stored.created_snapshot else 0
            if work.ack is not None:
                work.ack()
            if work.future is not None:
                work.future.set_result(Outcome(True, report_id=stored.report_id))
        for alert in result.fired:
            self._notify(alert, resolved=False)
        for alert in result.resolved:
            self._notify(alert, resolved=True)

    def _finish_rejected(self, work: _Work, rejection: ReportRejected) -> None:
        self._reject(rejection, work.source, work.payload)
        if work.ack is not None:
            work.ack()
        if work.future is not None:
            work.future.set_result(Outcome(False, rejection.code, str(rejection)))

    def _notify(self, alert: AlertRow, *, resolved: bool, again: bool = False) -> None:
        body = alert_body(alert, resolved=resolved)
        kind = "resolved" if resolved else alert.kind
        if not again:
            self.metrics.alerts.labels(kind).inc()
            self.summary.alerts[kind] += 1
        where = (
            ""
            if alert.sec_tag is None
            else f" {slot_label((alert.sec_tag, alert.type if alert.type is not None else -1))}"
        )
        label = f"RESOLVED {alert.kind}" if resolved else f"ALERT {alert.kind}"
        where += f" since {alert.since:%Y-%m-%d %H:%M:%S}Z"
        note = " (from an earlier run, not yet notified)" if again else ""
        self.on_event(
            CollectorEvent(
                "resolved" if resolved else "alert", f"{label} {alert.imei}{where}: {alert.detail}{note}", body
            )
        )
        if self._webhooks is not None:
            self._webhooks.send(Notice(alert.id, resolved, body))
        else:
            self._notified.put((alert.id, resolved))

    def _mark_notified(self, inventory: Inventory) -> None:
        fired: list[int] = []
        resolved: list[int] = []
        while True:
            try:
                alert_id, is_resolution = self._notified.get_nowait()
            except queue.Empty:
                break
            (resolved if is_resolution else fired).append(alert_id)
        if not fired and not resolved:
            return
        now = datetime.now(UTC)
        try:
            with inventory.write() as conn:
                mark_notified(conn, fired, now, resolved=False)
                mark_notified(conn, resolved, now, resolved=True)
        except InventoryError as exc:
            for alert_id in fired:
                self._notified.put((alert_id, False))
            for alert_id in resolved:
                self._notified.put((alert_id, True))
            self.on_event(CollectorEvent("problem", f"inventory: {exc}"))

    def _resend_unnotified(self, inventory: Inventory) -> None:
        with inventory.read() as conn:
            pending = unnotified_alerts(conn)
        for alert in pending:
            if alert.notified_at is None:
                self._notify(alert, resolved=False, again=True)
            if alert.resolved_at is not None and alert.resolve_notified_at is None and alert.kind != "appeared":
                self._notify(alert, resolved=True, again=True)

    def _check_silence(self, pipeline: ReportPipeline) -> None:
        try:
            fired = pipeline.check_silence(datetime.now(UTC))
        except InventoryError as exc:
            self.on_event(CollectorEvent("problem", f"inventory: {exc}"))
            return
        for alert in fired:
            self._notify(alert, resolved=False)

    def _refresh_fleet(self, inventory: Inventory) -> None:
        try:
            with inventory.read() as conn:
                counts = fleet_state_counts(conn, datetime.now(UTC) - self.options.rules.silent_after)
        except InventoryError:
            return
        self.metrics.set_fleet(counts)

    def _status_line(self) -> None:
        total = sum(self.summary.accepted.values())
        broker = ""
        if self._mqtt is not None:
            broker = f"; {self._mqtt.broker.display} {'connected' if self._mqtt.connected else 'reconnecting'}"
        self.on_event(
            CollectorEvent(
                "status",
                f"{total} reports stored, {self.rejections.total} refused, "
                f"{sum(self.summary.alerts.values())} alert notices{broker}",
            )
        )

    def _shutdown(self, inventory: Inventory) -> None:
        self._accepting.clear()
        if self._http is not None:
            self._http.stop()
        if self._mqtt is not None:
            self._mqtt.stop()
        if self._webhooks is not None:
            self._webhooks.stop()
            self.summary.webhooks_delivered = self._webhooks.delivered
            self.summary.webhooks_dead_lettered = self._webhooks.dead_lettered
        try:
            self._mark_notified(inventory)
        finally:
            inventory.close()
        self.summary.rejected = {k: v for k, v in self.rejections.counts.items() if v}
        self.summary.stopped_at = datetime.now(UTC)
