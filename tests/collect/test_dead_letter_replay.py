"""`credwarden replay-dead-letter`: the notices no webhook took go again to their own webhook once it is back,
through a real HTTP endpoint and a real `credwarden` process; a damaged file or a wrong webhook order sends nothing;
a notice that fails again stays; a token in a webhook URL is never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers import IMEI, IMEI2

from credwarden.collect.dead_letter import CLAIM_SUFFIX, replay
from credwarden.collect.webhooks import append_dead_letter

TOKEN = "T0KEN-IN-THE-PATH-0123456789"
ROOT = Path(__file__).resolve().parents[2]


class Endpoint(BaseHTTPRequestHandler):
    """Accepts on /ok/..., answers 503 on /down/...; records what it accepted."""

    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.startswith("/ok/"):
            with self.lock:
                self.received.append((self.path, body))
            self.send_response(204)
        else:
            self.send_response(503)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of a running endpoint (paths choose its behaviour)."""
    Endpoint.received = []
    server = HTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _body(device: str, kind: str, sec_tag: int | None = 42) -> dict[str, Any]:
    return {
        "device": device, "kind": kind, "sec_tag": sec_tag, "type": None if sec_tag is None else 2,
        "type_name": None if sec_tag is None else "client-key", "since": "2026-03-01T10:02:00Z", "detail": "x",
    }  # fmt: skip


def _dead_letters(path: Path, base: str) -> list[dict[str, Any]]:
    """Three notices as the collector writes them: two refused by webhook #1, one by webhook #2."""
    bodies = [_body(IMEI, "vanished"), _body(IMEI2, "silent", None), _body(IMEI, "resolved")]
    for index, body in zip((0, 0, 1), bodies, strict=True):
        append_dead_letter(path, f"{base}/ok/{TOKEN}", index, 5, "HTTP 503", body)
    return bodies


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credwarden", *args],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), cwd=ROOT,
    )  # fmt: skip


def test_every_notice_goes_back_to_its_own_webhook(endpoint: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    bodies = _dead_letters(dead, endpoint)
    first, second = f"{endpoint}/ok/{TOKEN}/first", f"{endpoint}/ok/{TOKEN}/second"
    result = _cli("replay-dead-letter", str(dead), "--webhook", first, "--webhook", second)
    assert result.returncode == 0, result.stderr
    assert Endpoint.received == [
        (f"/ok/{TOKEN}/first", bodies[0]),
        (f"/ok/{TOKEN}/first", bodies[1]),
        (f"/ok/{TOKEN}/second", bodies[2]),
    ]
    assert not dead.exists() and not dead.with_name(dead.name + CLAIM_SUFFIX).exists()
    assert f"vanished {IMEI} sec_tag 42" in result.stdout and "3 of 3 notices delivered" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_a_notice_that_fails_again_stays_with_its_attempts_counted(endpoint: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    bodies = _dead_letters(dead, endpoint)
    result = _cli(
        "--json", "replay-dead-letter", str(dead), "--webhook", f"{endpoint}/ok/{TOKEN}",
        "--webhook", f"{endpoint}/down/{TOKEN}",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["delivered"], report["failed"]) == (False, 2, 1)
    assert [r["delivered"] for r in report["results"]] == [True, True, False]
    assert report["results"][2]["error"] == "HTTP 503"
    kept = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(k["body"], k["webhook_index"], k["attempts"]) for k in kept] == [(bodies[2], 1, 6)]
    assert TOKEN not in result.stdout + result.stderr + dead.read_text()


@pytest.mark.parametrize(
    "damage,words",
    [
        ("not json\n", "line 4: not JSON"),
        (json.dumps({"body": {"device": IMEI}, "webhook_index": 0, "webhook": "x"}) + "\n", "exactly the keys"),
        (json.dumps({"body": _body(IMEI, "exploded"), "webhook_index": 0, "webhook": "x"}) + "\n", "unknown kind"),
        (json.dumps({"body": _body(IMEI, "vanished"), "webhook_index": -1, "webhook": "x"}) + "\n", "webhook_index"),
    ],
    ids=["not-json", "body-keys", "kind", "index"],
)
def test_a_damaged_file_sends_nothing_and_stays_as_it_was(
    endpoint: str, tmp_path: Path, damage: str, words: str
) -> None:
    dead = tmp_path / "dead.jsonl"
    _dead_letters(dead, endpoint)
    with dead.open("a") as out:
        out.write(damage)
    before = dead.read_bytes()
    urls = ("--webhook", f"{endpoint}/ok/a", "--webhook", f"{endpoint}/ok/b")
    result = _cli("replay-dead-letter", str(dead), *urls)
    assert result.returncode == 5, result.stderr
    assert words in result.stderr and "nothing was sent" in result.stderr
    as_json = _cli("--json", "replay-dead-letter", str(dead), *urls)
    assert as_json.returncode == 5 and json.loads(as_json.stdout)["ok"] is False
    assert Endpoint.received == [] and dead.read_bytes() == before


def test_webhooks_in_another_order_or_too_few_send_nothing(endpoint: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    _dead_letters(dead, endpoint)
    before = dead.read_bytes()
    other = "http://127.0.0.2:9/hook"
    wrong_order = _cli("replay-dead-letter", str(dead), "--webhook", other, "--webhook", f"{endpoint}/ok/x")
    too_few = _cli("replay-dead-letter", str(dead), "--webhook", f"{endpoint}/ok/x")
    assert (wrong_order.returncode, too_few.returncode) == (2, 2)
    assert "collector's order" in wrong_order.stderr and "only 1 --webhook given" in too_few.stderr
    assert Endpoint.received == [] and dead.read_bytes() == before


def test_dry_run_checks_and_shows_without_sending(endpoint: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    _dead_letters(dead, endpoint)
    before = dead.read_bytes()
    urls = ("--webhook", f"{endpoint}/ok/{TOKEN}", "--webhook", f"{endpoint}/ok/{TOKEN}")
    result = _cli("replay-dead-letter", str(dead), *urls, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would send silent {IMEI2}" in result.stdout and "nothing sent" in result.stderr
    assert Endpoint.received == [] and dead.read_bytes() == before
    assert TOKEN not in result.stdout + result.stderr


def test_nothing_waiting_is_not_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "credwarden", "replay-dead-letter", "--webhook", "http://127.0.0.1:9/x"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "CREDWARDEN_STATE_DIR": str(state)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no notice waiting" in result.stderr and str(state / "collect" / "dead-letter.jsonl") in result.stderr


def test_notices_dead_lettered_during_a_replay_are_kept(endpoint: str, tmp_path: Path) -> None:
    """A collector still running appends to the file while the replay sends: that notice is not lost."""
    dead = tmp_path / "dead.jsonl"
    _dead_letters(dead, endpoint)
    late = _body(IMEI2, "vanished")
    sent: list[bytes] = []

    def post(_url: str, data: bytes) -> tuple[bool, str]:
        if not sent:  # the collector dead-letters another notice while the first is being replayed
            append_dead_letter(dead, f"{endpoint}/ok/a", 0, 5, "HTTP 503", late)
        sent.append(data)
        return False, ""

    results = replay(dead, [f"{endpoint}/ok/a", f"{endpoint}/ok/b"], post=post)
    assert [r.delivered for r in results] == [True, True, True]
    assert [json.loads(line)["body"] for line in dead.read_text().splitlines()] == [late]


def test_a_cut_short_replay_is_taken_up_first(endpoint: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    bodies = _dead_letters(dead, endpoint)
    claimed = dead.with_name(dead.name + CLAIM_SUFFIX)
    dead.rename(claimed)  # what a replay killed after claiming leaves behind
    newer = _body(IMEI2, "changed")
    append_dead_letter(dead, f"{endpoint}/ok/a", 0, 5, "HTTP 503", newer)
    results = replay(dead, [f"{endpoint}/ok/a", f"{endpoint}/ok/b"])
    assert [r.letter.body for r in results] == [*bodies, newer]
    assert all(r.delivered for r in results)
    assert not dead.exists() and not claimed.exists()


def test_a_named_file_left_only_as_a_claim_is_replayed_and_a_missing_one_is_an_error(
    endpoint: str, tmp_path: Path
) -> None:
    dead = tmp_path / "dead.jsonl"
    _dead_letters(dead, endpoint)
    dead.rename(dead.with_name(dead.name + CLAIM_SUFFIX))  # a replay was killed after claiming the file
    urls = ("--webhook", f"{endpoint}/ok/a", "--webhook", f"{endpoint}/ok/b")
    result = _cli("replay-dead-letter", str(dead), *urls)
    assert result.returncode == 0, result.stderr
    assert len(Endpoint.received) == 3
    missing = _cli("replay-dead-letter", str(tmp_path / "nope.jsonl"), *urls)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
