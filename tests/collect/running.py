"""An in-process collector for tests, plus a small MQTT publisher (unique module name)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from credwarden.collect.service import Collector, CollectorEvent, CollectorOptions, CollectorSummary
from credwarden.inventory import Inventory


class Running:
    """A Collector running in a thread until `close()`."""

    def __init__(self, options: CollectorOptions) -> None:
        self.events: list[CollectorEvent] = []
        self.stop = threading.Event()
        self.collector = Collector(options, on_event=self.events.append)
        self.summary: CollectorSummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.summary = self.collector.run(self.stop)
        except BaseException as exc:  # surfaced by close()
            self.error = exc

    def messages(self, kind: str | None = None) -> list[str]:
        return [e.message for e in list(self.events) if kind is None or e.kind == kind]

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise AssertionError(f"collector failed: {self.error!r}")
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; events: {self.messages()[-15:]}")

    def wait_subscribed(self) -> None:
        self.wait_for(lambda: any("subscribed to" in m for m in self.messages("status")), "the subscription")

    def close(self) -> CollectorSummary:
        self.stop.set()
        self.thread.join(60)
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary


def count(inv: Inventory, sql: str) -> int:
    with inv.read() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


class Publisher:
    """A plain MQTT client publishing QoS 1 messages (waits for each PUBACK)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()

    def publish(self, topic: str, payload: str | bytes, timeout: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"broker did not acknowledge a publish to {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
