"""The collector against a real mosquitto broker: the simulator's wipe fault gives exactly one vanished alert,
a SIGKILLed collector loses nothing published while it was down, a broker restart is survived, rejections
are counted and sampled, never stored in part. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import IMEI, cw1, sha
from running import Publisher, Running, count

from credwarden.collect.broker import BrokerConfig
from credwarden.collect.pipeline import Rules
from credwarden.collect.service import CollectorOptions
from credwarden.inventory import Inventory
from credwarden.report import MAX_REPORT_BYTES
from credwarden.sim import SimConfig, SimModem
from credwarden.sim.field_reporter import FieldReporter

ROOT = Path(__file__).resolve().parents[2]
CA_PEM = (ROOT / "examples" / "certs" / "ca.pem").read_text().strip()
TOPIC = f"cw/v1/{IMEI}/report"


def options(db_url: str, mqtt_url: str, tmp_path: Path, **extra: object) -> CollectorOptions:
    values: dict[str, object] = {
        "db": db_url,
        "broker": BrokerConfig.from_url(mqtt_url, env={}),
        "client_id": f"test-{os.getpid()}-{time.monotonic_ns()}",
        "rules": Rules(confirm=2),
        "batch_wait_s": 0.01,
        "dead_letter": tmp_path / "dead.jsonl",
        "rejects": tmp_path / "rejected.jsonl",
        "fleet_refresh_s": 0.5,
    }
    values.update(extra)
    return CollectorOptions(**values)  # type: ignore[arg-type]


@pytest.mark.slow
def test_sim_wipe_fault_gives_exactly_one_vanished_alert(db_url: str, mqtt_url: str, tmp_path: Path) -> None:
    sim = SimModem(SimConfig(imei=IMEI, fast=True))
    assert sim.execute(f'AT%CMNG=0,42,0,"{CA_PEM}"').endswith("OK\r\n")
    sim.faults.wipe_tag, sim.faults.wipe_after = 42, 1  # the next write to another tag wipes tag 42
    running = Running(options(db_url, mqtt_url, tmp_path))
    reporter = FieldReporter(sim, mqtt_url, interval_s=0.15)
    inv = Inventory.open(db_url)
    try:
        running.wait_subscribed()
        reporter.start()
        running.wait_for(lambda: count(inv, "SELECT COUNT(*) FROM reports") >= 3, "three reports")
        assert count(inv, "SELECT COUNT(*) FROM alerts") == 0
        assert sim.execute('AT%CMNG=0,7,0,"' + CA_PEM + '"').endswith("OK\r\n")  # the app rewrites another tag
        assert sim.store.get(42, 0) is None
        stored = count(inv, "SELECT COUNT(*) FROM reports")
        running.wait_for(lambda: count(inv, "SELECT COUNT(*) FROM reports") >= stored + 6, "six more reports")
    finally:
        reporter.stop()
        running.close()
        sim.stop()
    with inv.read() as conn:
        from sqlalchemy import text

        alerts = conn.execute(text("SELECT kind, sec_tag, type, resolved_at FROM alerts")).all()
    inv.close()
    # exactly one alert for the vanished credential (the app's new tag 7 is an informational, closed `appeared`)
    assert sorted((a[0], a[1], a[2], a[3] is None) for a in alerts) == [
        ("appeared", 7, 0, False),
        ("vanished", 42, 0, True),
    ]
    vanished = [m for m in running.messages("alert") if "ALERT vanished" in m]
    assert len(vanished) == 1 and "sec_tag 42 root-ca" in vanished[0]
    assert running.collector.metrics.alerts.labels("vanished")._value.get() == 1


class CollectorProcess:
    """`credwarden collect` in a child process; stderr and stdout are drained continuously."""

    def __init__(self, db_url: str, mqtt_url: str, client_id: str, tmp_path: Path) -> None:
        env = dict(os.environ, CREDWARDEN_STATE_DIR=str(tmp_path / "state"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "credwarden", "collect", "--mqtt", mqtt_url,
             "--client-id", client_id, "--db", db_url, "--json", "--batch", "50"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _drain(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def wait_line(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in list(self.err)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} from the collector; stderr: {self.err}")

    def finish(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        for thread in self._threads:
            thread.join(10)
        return code


@pytest.mark.slow
def test_sigkill_and_restart_lose_no_report(db_url: str, mqtt_url: str, tmp_path: Path) -> None:
    client_id = f"kill-{os.getpid()}-{time.monotonic_ns()}"
    first = CollectorProcess(db_url, mqtt_url, client_id, tmp_path)
    first.wait_line("subscribed to")
    published: list[int] = []
    with Publisher(mqtt_url) as pub:
        for seq in range(1, 61):
            pub.publish(TOPIC, cw1(seq, [(42, 0, sha(seq % 3))]))
            published.append(seq)
            if seq == 30:
                assert first.finish(signal.SIGKILL) == -signal.SIGKILL  # mid-stream: queued, unacknowledged
        # still down: these wait at the broker in the persistent session
        for seq in range(61, 91):
            pub.publish(TOPIC, cw1(seq, [(42, 0, sha(seq % 3))]))
            published.append(seq)
    second = CollectorProcess(db_url, mqtt_url, client_id, tmp_path)
    try:
        second.wait_line("subscribed to")
        inv = Inventory.open(db_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and count(inv, "SELECT COUNT(DISTINCT seq) FROM reports") < len(published):
            time.sleep(0.1)
        with inv.read() as conn:
            from sqlalchemy import text

            seqs = sorted(int(r[0]) for r in conn.execute(text("SELECT seq FROM reports")))
        inv.close()
    finally:
        code = second.finish()
    assert code == 0, second.err
    assert seqs == published  # every report exactly once (a redelivered one is refused as a replay)
    summary = json.loads(second.out[-1])
    assert summary["event"] == "summary" and set(summary["rejected_by_reason"]) <= {"replayed"}


def _broker_control() -> tuple[str, str, str]:
    values = [
        os.environ.get(k)
        for k in ("CREDWARDEN_TEST_MQTT_BIN", "CREDWARDEN_TEST_MQTT_CONF", "CREDWARDEN_TEST_MQTT_PIDFILE")
    ]
    if not all(values):
        pytest.skip("broker restart needs scripts/with-mosquitto.sh (CREDWARDEN_TEST_MQTT_BIN / _CONF / _PIDFILE)")
    return values[0] or "", values[1] or "", values[2] or ""


def _stop_broker(pidfile: str) -> None:
    pid = int(Path(pidfile).read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("the broker did not stop")


def _start_broker(binary: str, conf: str, mqtt_url: str) -> None:
    subprocess.run([binary, "-c", conf, "-d"], check=True)
    broker = BrokerConfig.from_url(mqtt_url, env={})
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((broker.host, broker.port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the broker did not come back")


@pytest.mark.slow
def test_broker_restart_is_survived(db_url: str, mqtt_url: str, tmp_path: Path) -> None:
    binary, conf, pidfile = _broker_control()
    running = Running(options(db_url, mqtt_url, tmp_path))
    inv = Inventory.open(db_url)
    try:
        running.wait_subscribed()
        with Publisher(mqtt_url) as pub:
            for seq in range(1, 6):
                pub.publish(TOPIC, cw1(seq, [(42, 0, sha(1))]))
        running.wait_for(lambda: count(inv, "SELECT COUNT(*) FROM reports") == 5, "5 reports")
        _stop_broker(pidfile)
        running.wait_for(lambda: any("lost mqtt://" in m for m in running.messages("status")), "the disconnect")
    finally:
        _start_broker(binary, conf, mqtt_url)
    try:
        running.wait_for(lambda: len([m for m in running.messages("status") if "subscribed" in m]) >= 2, "resubscribe")
        with Publisher(mqtt_url) as pub:
            for seq in range(6, 11):
                pub.publish(TOPIC, cw1(seq, [(42, 0, sha(1))]))
        running.wait_for(lambda: count(inv, "SELECT COUNT(*) FROM reports") == 10, "10 reports")
    finally:
        running.close()
        inv.close()
    assert running.collector.metrics.connected._value.get() == 0  # closed now; was reconnected above


def test_rejections_counted_sampled_never_partial(db_url: str, mqtt_url: str, tmp_path: Path) -> None:
    running = Running(options(db_url, mqtt_url, tmp_path))
    inv = Inventory.open(db_url)
    key = (
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"
        + "A" * 40
        + "\n-----END PRIVATE KEY-----"
    )
    try:
        running.wait_subscribed()
        with Publisher(mqtt_url) as pub:
            pub.publish(TOPIC, cw1(1, [(42, 0, sha(1))]))
            pub.publish(TOPIC, cw1(1, [(42, 0, sha(1))]))  # replayed
            pub.publish(TOPIC, "CW/1 imei=352656100367872 seq=2\nAT%CMNG=1\n" + key + "\nOK\n")  # unparsable
            pub.publish("cw/v1/352656100367880/report", cw1(3, [(42, 0, sha(1))]))  # topic names another IMEI
            pub.publish(TOPIC, cw1(4, [(42, 0, sha(1))]) + "AT+X\r\n" + "x" * MAX_REPORT_BYTES + "\r\nOK\r\n")
        metrics = running.collector.metrics
        running.wait_for(lambda: running.collector.rejections.total == 4, "4 rejections")
    finally:
        summary = running.close()
    assert summary.rejected == {"oversized": 1, "unparsable": 1, "imei-mismatch": 1, "replayed": 1}
    assert count(inv, "SELECT COUNT(*) FROM reports") == 1 and count(inv, "SELECT COUNT(*) FROM snapshots") == 1
    inv.close()
    for reason in ("oversized", "unparsable", "imei-mismatch", "replayed"):
        assert metrics.rejected.labels(reason)._value.get() == 1
    samples = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert sorted(s["reason"] for s in samples) == ["imei-mismatch", "oversized", "replayed", "unparsable"]
    text = (tmp_path / "rejected.jsonl").read_text()
    assert "MIGHAgEAMBMG" not in text and "redacted" in text  # the key never reaches the sample file
    assert all(len(s["excerpt"]) <= 400 for s in samples)
    exposition = metrics.exposition().decode()
    assert IMEI not in exposition  # aggregate only
