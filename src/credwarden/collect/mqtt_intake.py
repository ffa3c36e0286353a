"""Receiving reports from an MQTT broker (paho-mqtt 2.x, MQTT 5): QoS 1, acknowledged only after the report is
committed, so a collector killed at any moment loses nothing the broker delivered.

With a client id the session is persistent (clean start off, a session expiry): QoS 1 messages published
while the collector is down wait at the broker and arrive when it comes back. The connection is kept by
paho's network thread, which reconnects with backoff (1 s doubling to 30 s) and resubscribes.
"""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from credwarden.collect.broker import ENV_CA, ENV_CERT, ENV_KEY, ENV_PASSWORD, ENV_USERNAME, BrokerConfig

DEFAULT_SESSION_EXPIRY_S = 7 * 86_400
KEEPALIVE_S = 30
#: CONNACK reason codes retrying cannot fix: client id not valid, bad login, not authorised, banned, bad auth method.
FATAL_REFUSALS = frozenset({133, 134, 135, 138, 140})


#: OpenSSL alerts by which a broker rejects our client certificate (or its absence): retrying cannot help.
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "HANDSHAKE_FAILURE",
)


@dataclass(frozen=True)
class ConnectFailure:
    """Why a connection attempt failed, in words, and whether retrying can ever help."""

    message: str
    fatal: bool


def describe_connect_error(exc: BaseException, broker: BrokerConfig) -> ConnectFailure:
    """A failed TCP/TLS connection in the words of someone setting up a collector (no file content, no secret)."""
    where = broker.display
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectFailure(
            f"{where}: the broker's TLS certificate is not trusted ({exc.verify_message}; check ${ENV_CA} and the "
            "host name in --mqtt)",
            fatal=True,
        )
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or ''} {exc}"
        refused = client_certificate_refused(text, broker)
        if refused is not None:
            return refused
        if "WRONG_VERSION_NUMBER" in text.upper() or "RECORD_LAYER_FAILURE" in text.upper():
            return ConnectFailure(f"{where}: no TLS on this port (mqtt:// instead of mqtts://?)", fatal=True)
        return ConnectFailure(f"{where}: TLS handshake failed ({exc.reason or exc}); retrying with backoff", False)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailure(f"{where}: connection refused (is the broker running?); retrying with backoff", False)
    if isinstance(exc, socket.gaierror):
        return ConnectFailure(f"{where}: host name not found ({exc.strerror}); retrying with backoff", False)
    if isinstance(exc, TimeoutError):
        return ConnectFailure(f"{where}: connection timed out; retrying with backoff", False)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return ConnectFailure(f"{where}: cannot connect ({reason}); retrying with backoff", False)


def client_certificate_refused(text: str, broker: BrokerConfig) -> ConnectFailure | None:
    """The failure when `text` (an OpenSSL error) is the broker's alert against our client certificate."""
    if not any(alert in text.upper() for alert in _CLIENT_CERT_ALERTS):
        return None
    given = "was refused" if broker.cert_file is not None else "is required and none is set"
    return ConnectFailure(
        f"{broker.display}: the broker's TLS client certificate check failed (a certificate {given}; check "
        f"${ENV_CERT} / ${ENV_KEY})",
        fatal=True,
    )


class _Client(mqtt.Client):
    """paho's client, keeping why the last connection attempt failed (paho retries it and logs nothing useful)."""

    last_connect_error: OSError | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_connect_error = exc
            raise


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
        self._last_failure: str | None = None
        self.client = _Client(
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
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_log = self._on_log
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
                self.fatal = f"{message} (check ${ENV_USERNAME} / ${ENV_PASSWORD} / the TLS client certificate)"
            self.on_status("refused", message)
            return
        self.connected = True
        self._last_failure = None
        resumed = " (session resumed)" if getattr(flags, "session_present", False) else ""
        self.on_status("connected", f"connected to {self.broker.display} as {self.client_id}{resumed}")
        client.subscribe(self.topic, qos=1)

    def _on_connect_fail(self, client: mqtt.Client, _userdata: Any) -> None:
        error = getattr(client, "last_connect_error", None)
        if error is not None:
            self._failed(describe_connect_error(error, self.broker))

    def _on_log(self, _client: mqtt.Client, _userdata: Any, level: int, message: str) -> None:
        # TLS 1.3 rejects a client certificate (or its absence) after the handshake: paho then only logs the alert
        if level == mqtt.MQTT_LOG_ERR and not self.connected:
            refused = client_certificate_refused(message, self.broker)
            if refused is not None:
                self._failed(refused)

    def _failed(self, failure: ConnectFailure) -> None:
        if failure.fatal:
            self.fatal = failure.message
        if failure.message != self._last_failure:  # once per cause, not once per retry
            self._last_failure = failure.message
            self.on_status("unreachable", failure.message)

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
        elif self.fatal is None:
            # the reason paho gives varies between attempts; the message must not, so it is said once per cause
            hint = "" if self.broker.tls else " (a TLS port needs mqtts://)"
            message = f"{self.broker.display}: the connection closed before the broker answered{hint}"
            self._failed(ConnectFailure(f"{message}; retrying with backoff", fatal=False))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.on_delivery(Delivery(message.topic, bytes(message.payload), message.mid, message.qos))
