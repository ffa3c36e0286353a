"""The collector's HTTP side and notifiers: /ingest (text, device message, routed batch), /metrics, bearer
token, webhooks with retries and a dead-letter file, and no secret in any output. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers import IMEI, cw1, sha, sms
from running import Running, count

from credwarden.collect.pipeline import Rules
from credwarden.collect.service import CollectorOptions
from credwarden.inventory import Inventory

A = (42, 0, sha(1))
B = (42, 2, sha(2))
ROOT = Path(__file__).resolve().parents[2]


def post(url: str, body: bytes, kind: str = "text/plain", token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": kind}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def http_options(db_url: str, tmp_path: Path, **extra: Any) -> CollectorOptions:
    values: dict[str, Any] = {
        "db": db_url,
        "http": ("127.0.0.1", 0),
        "rules": Rules(confirm=1),
        "batch_wait_s": 0.01,
        "dead_letter": tmp_path / "dead.jsonl",
        "rejects": tmp_path / "rejected.jsonl",
        "fleet_refresh_s": 0.2,
    }
    values.update(extra)
    return CollectorOptions(**values)


def started(options: CollectorOptions) -> Running:
    running = Running(options)
    running.wait_for(lambda: running.collector.http_url is not None, "the HTTP server")
    return running


def test_ingest_text_json_and_routed_batch_then_metrics(db_url: str, tmp_path: Path) -> None:
    running = started(http_options(db_url, tmp_path))
    base = running.collector.http_url
    try:
        status, body = post(f"{base}/ingest", cw1(1, [A, B]).encode())
        assert status == 200 and body["accepted"] is True and body["report_id"]
        message = {"appId": "CREDWARDEN", "messageType": "DATA", "data": cw1(2, [A, B]), "deviceId": f"nrf-{IMEI}"}
        status, body = post(f"{base}/ingest", json.dumps(message).encode(), "application/json")
        assert status == 200 and body["accepted"] is True
        routed = {
            "type": "device_messages",
            "messages": [
                {"deviceId": f"nrf-{IMEI}", "message": {"appId": "CREDWARDEN", "data": cw1(3, [A])}},
                {"deviceId": "nrf-352656100367880", "message": {"appId": "CREDWARDEN", "data": cw1(4, [A])}},
                {"deviceId": "other", "message": {"appId": "TEMP", "data": "21.5"}},
            ],
        }
        status, body = post(f"{base}/ingest", json.dumps(routed).encode(), "application/json")
        assert status == 200 and body["accepted"] == 1 and body["skipped"] == 1
        assert [r["reason"] for r in body["rejected"]] == ["imei-mismatch"]
        status, body = post(f"{base}/ingest", sms(5, [A]).encode())
        assert status == 200 and body["accepted"] is True
        status, body = post(f"{base}/ingest", b"hello")
        assert status == 422 and body["reason"] == "unparsable"
        status, body = post(f"{base}/ingest", cw1(5, [A]).encode())
        assert status == 422 and body["reason"] == "replayed"
        status, body = post(f"{base}/ingest", b"CW/1 " + b"x" * 17_000)
        assert status == 413 and body["reason"] == "oversized"
        assert dict(running.collector.summary.alerts) == {"vanished": 1}
        running.wait_for(lambda: 'credwarden_fleet_devices{state="vanished"} 1.0' in _metrics(base), "the fleet gauge")
        text = _metrics(base)
        assert 'credwarden_reports_total{transport="http"} 3.0' in text
        assert 'credwarden_reports_total{transport="sms"} 1.0' in text
        assert 'credwarden_reports_rejected_total{reason="imei-mismatch"} 1.0' in text
        assert 'credwarden_alerts_total{kind="vanished"} 1.0' in text
        assert "credwarden_ingest_latency_seconds_count 4.0" in text
        assert IMEI not in text
    finally:
        running.close()
    with Inventory.open(db_url) as inv:
        assert count(inv, "SELECT COUNT(*) FROM reports WHERE transport = 'sms'") == 1


def _metrics(base: str | None, token: str | None = None) -> str:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode())


def test_bearer_token_guards_every_route(db_url: str, tmp_path: Path) -> None:
    token = "s3cret-token-value"
    running = started(http_options(db_url, tmp_path, token=token))
    base = running.collector.http_url
    try:
        assert post(f"{base}/ingest", cw1(1, [A]).encode())[0] == 401
        assert post(f"{base}/ingest", cw1(1, [A]).encode(), token="wrong")[0] == 401
        with pytest.raises(urllib.error.HTTPError) as info:
            _metrics(base)
        assert info.value.code == 401
        assert post(f"{base}/ingest", cw1(1, [A]).encode(), token=token)[0] == 200
        assert "credwarden_reports_total" in _metrics(base, token)
    finally:
        running.close()
    assert all(token not in m for m in running.messages())


class Hook(BaseHTTPRequestHandler):
    """A webhook endpoint: /flaky fails twice with 503 then accepts; /broken always answers 400."""

    calls: ClassVar[dict[str, int]] = {}
    received: ClassVar[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.calls[self.path] = self.calls.get(self.path, 0) + 1
            attempt = self.calls[self.path]
        if self.path.startswith("/flaky") and attempt > 2:
            with self.lock:
                self.received.append(body)
            self.send_response(204)
        else:
            self.send_response(503 if self.path.startswith("/flaky") else 400)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_webhooks_retry_then_dead_letter_and_no_secret_leaks(db_url: str, tmp_path: Path) -> None:
    Hook.calls, Hook.received = {}, []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    secret = "T0KEN-IN-THE-PATH-0123456789"
    flaky, broken = f"http://127.0.0.1:{port}/flaky/{secret}", f"http://127.0.0.1:{port}/broken/{secret}"
    running = started(http_options(db_url, tmp_path, webhooks=(flaky, broken)))
    base = running.collector.http_url
    try:
        for seq, entries in ((1, [A, B]), (2, [A]), (3, [A, B])):  # vanished, then resolved (confirm 1)
            assert post(f"{base}/ingest", cw1(seq, entries).encode())[0] == 200
        running.wait_for(lambda: len(Hook.received) == 2, "two deliveries after retries", timeout=60)
        running.wait_for(lambda: (tmp_path / "dead.jsonl").exists() and
                         len((tmp_path / "dead.jsonl").read_text().splitlines()) == 2, "two dead letters")  # fmt: skip
    finally:
        summary = running.close()
        server.shutdown()
    fired, resolved = Hook.received
    keys = {"device", "kind", "sec_tag", "type", "type_name", "since", "detail"}
    assert set(fired) == keys and set(resolved) == keys
    assert (fired["kind"], fired["device"], fired["sec_tag"], fired["type"], fired["type_name"]) == (
        "vanished", IMEI, 42, 2, "client-key",
    )  # fmt: skip
    assert resolved["kind"] == "resolved" and resolved["since"] == fired["since"]
    assert sha(2) not in fired["detail"] and sha(2)[:8] in fired["detail"]  # only the first bytes of a digest
    assert Hook.calls == {f"/flaky/{secret}": 4, f"/broken/{secret}": 2}  # 400: no retry
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["body"]["kind"] for d in dead] == ["vanished", "resolved"] and dead[0]["error"] == "HTTP 400"
    everything = (tmp_path / "dead.jsonl").read_text() + "\n".join(running.messages())
    assert secret not in everything
    assert summary.webhooks_delivered == 2 and summary.webhooks_dead_lettered == 2
    with Inventory.open(db_url) as inv:
        assert count(inv, "SELECT COUNT(*) FROM alerts WHERE notified_at IS NULL") == 0
        assert count(inv, "SELECT COUNT(*) FROM alerts WHERE resolve_notified_at IS NULL") == 0


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credwarden", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args,env,code,words",
    [
        ([], {}, 2, "nothing to collect"),
        (["--http", "0.0.0.0:8080"], {}, 2, "needs a bearer token"),
        (["--mqtt", "mqtt://user:hunter2@127.0.0.1"], {}, 2, "not in the URL"),
        (["--mqtt", "ftp://127.0.0.1"], {}, 2, "mqtt://HOST"),
        (["--mqtt", "mqtt://127.0.0.1", "--topic", "cw/#/x"], {}, 2, "wildcards"),
        (["--http", "127.0.0.1:0", "--token-env", "NOPE_UNSET"], {}, 2, "not set"),
        (["--mqtt", "mqtt://127.0.0.1", "--webhook", "ftp://x"], {}, 2, "--webhook"),
        (["--mqtt", "mqtt://127.0.0.1"], {"CREDWARDEN_MQTT_PASSWORD": "hunter2"}, 2, "USERNAME"),
    ],
)
def test_bad_options_exit_2_without_echoing_secrets(
    args: list[str], env: dict[str, str], code: int, words: str
) -> None:
    result = _cli("collect", *args, env=env)
    assert result.returncode == code, result.stderr
    assert words in result.stderr and "hunter2" not in result.stderr + result.stdout


def test_invalid_manifest_exits_5(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 42\ntype = "root-ca"\nfile = "missing.pem"\n')
    result = _cli("collect", "--http", "127.0.0.1:0", "--manifest", str(manifest), "--db", str(tmp_path / "i.db"))
    assert result.returncode == 5, result.stderr
    assert "file not found" in result.stderr
