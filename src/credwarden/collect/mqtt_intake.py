"""Receiving reports from an MQTT broker (paho-mqtt 2.x, MQTT 5): QoS 1, acknowledged only after the report is
committed, so a collector killed at any moment loses nothing the broker delivered.

With a client id the session is persistent (clean start off, a session expiry): QoS 1 messages published
while the collector is down wait at the broker and arrive when it comes back. The connection is kept by
paho's network thread, which reconnects with backoff (1 s doubling to 30 s) and resubscribes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from credwarden.collect.broker import BrokerConfig

DEFAULT_SESSION_EXPIRY_S = 7 * 86_400
KEEPALIVE_S = 30
#: CONNACK reason codes retrying cannot fix: client id not valid, bad login, not authorised, banned, bad auth method.
FATAL_REFUSALS = frozenset({133, 134, 135, 138, 140})


@dataclass(frozen=True)
class Delivery:
    """One message from the broker; `ack()` once it is stored (QoS 0: nothing to acknowledge)."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttIntake:
    """A subscription that hands every message to `on_delivery` (called in paho's network thread)."""

    def __init__(
        self,
        broker: BrokerConfig,
        topic: str,
        *,
        on_delivery: Callable[[Delivery], None],
        on_status: Callable[[str, str], None],
        client_id: str | None = None,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        receive_maximum: int = 1000,
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.persistent = client_id is not None
        self.client_id = client_id or f"credwarden-collect-{uuid.uuid4().hex[:12]}"
        self.on_delivery = on_delivery
        self.on_status = on_status
        self.connected = False
        #: why the broker will never accept this client (a login problem), None while retrying makes sense
        self.fatal: str | None = None
        self._stopping = False
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if broker.username is not None:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set_context(broker.tls_context())
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._properties.SessionExpiryInterval = session_expiry_s if self.persistent else 0
        self._properties.ReceiveMaximum = max(1, min(receive_maximum, 65_535))

    def start(self) -> None:
        """Connect in the background (retried until it works) and keep the connection."""
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=KEEPALIVE_S,
            clean_start=not self.persistent,
            properties=self._properties,
        )
        self.client.loop_start()

    def ack(self, delivery: Delivery) -> None:
        if delivery.qos > 0:
            self.client.ack(delivery.mid, delivery.qos)

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            message = f"{self.broker.display} refused the connection: {reason}"
            if reason.value in FATAL_REFUSALS:
                self.fatal = message
            self.on_status("refused", message)
            return
        self.connected = True
        resumed = " (session resumed)" if getattr(flags, "session_present", False) else ""
        self.on_status("connected", f"connected to {self.broker.display} as {self.client_id}{resumed}")
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self.on_status("refused", f"{self.broker.display} refused the subscription to {self.topic}: {failed[0]}")
        else:
            self.on_status("subscribed", f"subscribed to {self.topic} (QoS 1)")

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was = self.connected
        self.connected = False
        if self._stopping:
            self.on_status("disconnected", f"disconnected from {self.broker.display}")
        elif was:
            self.on_status("disconnected", f"lost {self.broker.display} ({reason}); reconnecting with backoff")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.on_delivery(Delivery(message.topic, bytes(message.payload), message.mid, message.qos))
