"""The simulated modem as a field device: every interval it builds a CW/1 report of its own store and
publishes it to an MQTT broker (QoS 1, topic `cw/v1/<imei>/report`), exactly as firmware would.

Like firmware, it parses nothing: it runs `AT+CGMR`, `AT%CMNG=1` and `AT%CERTEXPIRY=<tag>,<type>` (for the
certificates it holds, as an application knowing its own sec_tags would) on the simulator's engine and wraps
the raw answers. A command whose final result is lost (the lost-result faults) ends with `ERROR -116`
(ETIMEDOUT, as `nrf_modem_at_cmd` reports a command that timed out). `seq` and `up` restart when the
simulated modem reboots. Every fault of the simulator shows in the reports: a wiped sec_tag is simply no
longer listed.

A tag given in `tls_tags` stands for a connection the application makes: when that tag lacks its root CA,
or holds a client certificate without its key, the report says `tls=<tag>:-95` (the handshake failure).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

if TYPE_CHECKING:
    from credwarden.sim.simulator import SimModem

#: The final line written when the AT call itself failed on the device: -ETIMEDOUT.
TIMED_OUT = "ERROR -116"
#: TLS handshake failure reported for a tag whose credentials are incomplete (EOPNOTSUPP).
TLS_FAILURE = -95
#: Certificate types `%CERTEXPIRY` answers for.
_CERT_TYPES = (0, 1)
_MAX_USER_TAG = 2_147_483_647
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


def parse_broker_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of `mqtt://HOST[:PORT]` / `mqtts://HOST[:PORT]`; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        raise ValueError(f"--report-mqtt must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {url!r}")
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]


class FieldReporter:
    """Publishes the simulator's CW/1 reports until stopped."""

    def __init__(
        self,
        sim: SimModem,
        broker_url: str,
        *,
        interval_s: float,
        app_version: str = "sim",
        tls_tags: Sequence[int] = (),
        topic: str | None = None,
        login: tuple[str, str | None] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """`login` (user, password) and `tls_context` (an `mqtts://` broker; system CAs when None) come from the
        caller, which reads them from the environment as the collector does."""
        if interval_s <= 0:
            raise ValueError("--report-interval must be positive")
        self.sim = sim
        self.scheme, self.host, self.port = parse_broker_url(broker_url)
        self.interval_s = interval_s
        self.app_version = app_version
        self.tls_tags = tuple(tls_tags)
        self.imei = self._answer("AT+CGSN") or sim.config.imei
        self.topic = topic or f"cw/v1/{self.imei}/report"
        self.published = 0
        self._seq = 0
        self._ram = sim.engine.ram
        self._boot = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="field-reporter", daemon=True)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"cw-sim-{self.imei}", protocol=mqtt.MQTTv5
        )
        if login is not None:
            self.client.username_pw_set(*login)
        if self.scheme == "mqtts":
            self.client.tls_set_context(tls_context or ssl.create_default_context())
        self.client.reconnect_delay_set(1, 30)
        self._connected = threading.Event()
        self.client.on_connect = lambda *_args: self._connected.set()

    def _answer(self, command: str) -> str:
        lines = [line for line in self.sim.execute(command).splitlines() if line.strip()]
        return lines[0].strip() if lines and lines[-1].strip() == "OK" and len(lines) > 1 else ""

    def _block(self, command: str) -> list[str]:
        text = self.sim.execute(command)
        lines = [line for line in text.split("\r\n") if line != ""]
        finals = ("OK", "ERROR")
        if not lines or not (lines[-1] in finals or lines[-1].startswith(("+CME ERROR:", "+CMS ERROR:"))):
            lines.append(TIMED_OUT)
        return [command, *lines]

    def _tls_failures(self) -> list[str]:
        failures = []
        for tag in self.tls_tags:
            has = {code for code in range(0, 5) if self.sim.store.get(tag, code) is not None}
            if 0 not in has or (1 in has and 2 not in has):
                failures.append(f"{tag}:{TLS_FAILURE}")
        return failures

    def build_report(self) -> str:
        """The next report (advances `seq`; a reboot of the simulated modem restarts `seq` and `up`)."""
        if self.sim.engine.ram is not self._ram:
            self._ram, self._boot, self._seq = self.sim.engine.ram, time.monotonic(), 0
        self._seq += 1
        header = f"CW/1 imei={self.imei} seq={self._seq} up={int(time.monotonic() - self._boot)} app={self.app_version}"
        failures = self._tls_failures()
        if failures:
            header += f" tls={','.join(failures)}"
        lines = [header, *self._block("AT+CGMR"), *self._block("AT%CMNG=1")]
        for entry in self.sim.store.ordered():
            if entry.type in _CERT_TYPES and entry.sec_tag <= _MAX_USER_TAG:
                lines += self._block(f"AT%CERTEXPIRY={entry.sec_tag},{entry.type}")
        return "\r\n".join(lines) + "\r\n"

    def publish_once(self, timeout_s: float = 10.0) -> bool:
        """Build and publish one report now; True once the broker acknowledged it."""
        info = self.client.publish(self.topic, self.build_report(), qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError):
            return False
        if info.is_published():
            self.published += 1
            return True
        return False

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval_s + 15)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self._connected.wait(0.2):  # the first report waits for the broker (later ones are queued)
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            self.publish_once(timeout_s=min(10.0, self.interval_s * 5))
            self._stop.wait(self.interval_s)
