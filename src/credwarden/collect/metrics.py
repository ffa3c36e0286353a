"""The collector's Prometheus metrics: aggregate only (no per-IMEI series, whatever the fleet size).

They live in the collector's own `CollectorRegistry`, so they never mix with another exporter in the same
process (the per-device `inventory export --format prometheus` builds its own registry too).

    credwarden_reports_total{transport}              reports accepted
    credwarden_reports_rejected_total{reason}        reports refused (oversized, unparsable, imei-mismatch, replayed)
    credwarden_fleet_devices{state}                  reporting devices by their worst slot state (or silent)
    credwarden_alerts_total{kind}                    alerts raised (and `resolved` notifications)
    credwarden_ingest_latency_seconds                arrival -> committed in the inventory
    credwarden_batch_reports                         reports per database transaction
    credwarden_webhook_deliveries_total{result}      delivered | retried | dead-lettered
    credwarden_broker_connected                      1 while connected to the MQTT broker
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from credwarden.inventory.field_alerts import STATE_RANK
from credwarden.inventory.vocabulary import ALERT_KINDS, REPORT_TRANSPORTS
from credwarden.report.errors import REASONS

CONTENT_TYPE = CONTENT_TYPE_LATEST


class CollectorMetrics:
    """All series of one collector (label values are closed sets, created at zero)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reports = Counter("credwarden_reports", "Field reports accepted.", ["transport"], registry=r)
        self.rejected = Counter("credwarden_reports_rejected", "Field reports refused.", ["reason"], registry=r)
        self.fleet = Gauge(
            "credwarden_fleet_devices",
            "Reporting devices by their worst slot state (or silent).",
            ["state"],
            registry=r,
        )
        self.alerts = Counter("credwarden_alerts", "Alerts raised, and resolved notifications.", ["kind"], registry=r)
        self.latency = Histogram(
            "credwarden_ingest_latency_seconds",
            "Time from a report's arrival to its commit in the inventory.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.batch = Histogram(
            "credwarden_batch_reports",
            "Reports stored per database transaction.",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
            registry=r,
        )
        self.webhooks = Counter("credwarden_webhook_deliveries", "Webhook deliveries.", ["result"], registry=r)
        self.connected = Gauge("credwarden_broker_connected", "1 while connected to the MQTT broker.", registry=r)
        for transport in REPORT_TRANSPORTS:
            self.reports.labels(transport)
        for reason in REASONS:
            self.rejected.labels(reason)
        for state in STATE_RANK:
            self.fleet.labels(state)
        for kind in (*ALERT_KINDS, "resolved"):
            self.alerts.labels(kind)
        for result in ("delivered", "retried", "dead-lettered"):
            self.webhooks.labels(result)

    def set_fleet(self, counts: Mapping[str, int]) -> None:
        for state, value in counts.items():
            self.fleet.labels(state).set(value)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)
