"""The collector's write path: a batch of accepted reports becomes, in ONE transaction, report rows (and
snapshots where a list changed), updated slot states and alerts. Nothing of a batch is stored unless all of
it is; the caller acknowledges the messages (MQTT PUBACK, HTTP answer) only after `process` returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from credwarden.collect.expected import ManifestExpectations
from credwarden.collect.health import (
    DEFAULT_EXPIRING_DAYS,
    Known,
    Transition,
    advance,
    alert_changes,
    derive_states,
    resolve_silence,
    silent_alert,
)
from credwarden.inventory.field_alerts import (
    AlertRow,
    SlotRow,
    insert_alerts,
    load_slot_states,
    open_alerts,
    resolve_alerts,
    save_slot_states,
    silent_devices,
)
from credwarden.inventory.field_reports import IncomingReport, StoredReport, store_reports
from credwarden.inventory.store import Inventory

DEFAULT_CONFIRM = 2
DEFAULT_INTERVAL_S = 86_400
DEFAULT_SILENT_INTERVALS = 3


@dataclass(frozen=True)
class Rules:
    """When a transition is believed, what counts as expiring, when a device is silent."""

    confirm: int = DEFAULT_CONFIRM
    expiring_days: int = DEFAULT_EXPIRING_DAYS
    interval_s: int = DEFAULT_INTERVAL_S
    silent_intervals: int = DEFAULT_SILENT_INTERVALS

    def __post_init__(self) -> None:
        if self.confirm < 1:
            raise ValueError("confirm must be at least 1")
        if self.interval_s < 1 or self.silent_intervals < 1:
            raise ValueError("interval and silent intervals must be positive")

    @property
    def silent_after(self) -> timedelta:
        return timedelta(seconds=self.interval_s * self.silent_intervals)


@dataclass
class BatchResult:
    """What one batch did."""

    stored: list[StoredReport]
    fired: list[AlertRow] = field(default_factory=list)
    resolved: list[AlertRow] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.stored if s.accepted)


class ReportPipeline:
    """Stores batches of reports and keeps the fleet's slot states and alerts (one transaction per batch)."""

    def __init__(
        self, inventory: Inventory, *, rules: Rules | None = None, expectations: ManifestExpectations | None = None
    ) -> None:
        self.inventory = inventory
        self.rules = rules or Rules()
        self.expectations = expectations

    def process(self, incoming: Sequence[IncomingReport]) -> BatchResult:
        """Store the batch and evaluate every accepted report, in arrival order."""
        with self.inventory.write() as conn:
            stored = store_reports(conn, incoming)
            result = BatchResult(stored)
            accepted = [s for s in stored if s.accepted]
            if not accepted:
                return result
            device_ids = sorted({s.device_id for s in accepted})
            rows = load_slot_states(conn, device_ids)
            alerts = open_alerts(conn, device_ids)
            original = {(d, slot): replace(row) for d, slots in rows.items() for slot, row in slots.items()}
            for item in accepted:
                self._evaluate(item, rows.setdefault(item.device_id, {}), alerts.setdefault(item.device_id, []), result)
            changed = [
                row for d, slots in rows.items() for slot, row in slots.items() if original.get((d, slot)) != row
            ]
            save_slot_states(conn, changed)
            insert_alerts(conn, result.fired)
            resolve_alerts(conn, [(a.id, a.resolved_at) for a in result.resolved if a.resolved_at is not None])
            return result

    def _evaluate(
        self, item: StoredReport, rows: dict[tuple[int, int], SlotRow], alerts: list[AlertRow], result: BatchResult
    ) -> None:
        report = item.incoming.report
        now = item.incoming.received_at
        expectations = self.expectations.for_device(report.imei) if self.expectations is not None else None
        before = {slot: Known(k.sha256, k.not_after) for slot, k in item.before.items()}
        observations = derive_states(
            listing=item.listing,
            before=before,
            rows=rows,
            expectations=expectations,
            expiries=report.expiries(),
            tls_failures=report.tls_failures,
            now=now,
            expiring_days=self.rules.expiring_days,
        )
        known_device = not item.first_report or bool(item.before)
        transitions: list[Transition] = []
        for observation in observations:
            row, transition = advance(
                rows.get(observation.slot),
                observation,
                device_id=item.device_id,
                now=now,
                confirm=self.rules.confirm,
                known_device=known_device,
                seen_before=observation.slot in item.before,
            )
            rows[observation.slot] = row
            if transition is not None:
                transitions.append(transition)
        changes = alert_changes(transitions, alerts, imei=report.imei, now=now)
        silence = resolve_silence(alerts, now=now, detail=f"report seq {report.seq} received")
        result.transitions.extend(transitions)
        result.fired.extend(changes.fired)
        result.resolved.extend(changes.resolved + silence)

    def check_silence(self, now: datetime) -> list[AlertRow]:
        """Raise a `silent` alert (once) for every device whose last report is older than the threshold."""
        cutoff = now - self.rules.silent_after
        with self.inventory.write() as conn:
            fired = [
                silent_alert(device_id, imei, last, now=now, interval_s=self.rules.interval_s)
                for device_id, imei, last in silent_devices(conn, cutoff)
            ]
            insert_alerts(conn, fired)
        return fired
