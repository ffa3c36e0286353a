"""Alert notifications by webhook: a JSON POST to every `--webhook URL`, retried with exponential backoff,
then written to a dead-letter JSON-lines file. Deliveries run in their own thread: a slow or dead endpoint
never holds up report ingest.

Body (exactly these keys): `{"device": IMEI, "kind": ..., "sec_tag", "type", "type_name", "since", "detail"}`
with `kind` one of vanished, changed, appeared, unexpected, expiring, expired, silent, tls-error, resolved.
Webhook URLs often carry a secret (a token in the path): only scheme and host are ever shown or logged.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from credwarden.errors import UsageError
from credwarden.inventory.field_alerts import AlertRow
from credwarden.types import type_name

DEFAULT_ATTEMPTS = 5
DEFAULT_FIRST_DELAY_S = 0.5
DEFAULT_MAX_DELAY_S = 30.0
TIMEOUT_S = 10.0


def alert_body(alert: AlertRow, *, resolved: bool = False) -> dict[str, Any]:
    """The webhook body of an alert firing (or, with `resolved`, of its resolution)."""
    return {
        "device": alert.imei,
        "kind": "resolved" if resolved else alert.kind,
        "sec_tag": alert.sec_tag,
        "type": alert.type,
        "type_name": None if alert.type is None else type_name(alert.type),
        "since": alert.since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "detail": alert.detail or "",
    }


def post_json(url: str, data: bytes) -> tuple[bool, str]:
    """POST JSON `data` once: (worth retrying, error text); the error text is empty on success and never holds
    the URL (it may carry a token)."""
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "credwarden"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read(1024)
        return False, ""
    except urllib.error.HTTPError as exc:
        return exc.code >= 500 or exc.code in (408, 429), f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return True, f"{type(reason).__name__}: {str(reason)[:120]}"


def shown_url(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def check_webhook(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--webhook must be an http:// or https:// URL, not {shown_url(url)!r}")
    return url


@dataclass(frozen=True)
class Notice:
    """One notification to deliver to every webhook: the alert id, whether it is the resolution, the body."""

    alert_id: int
    resolved: bool
    body: dict[str, Any]


class WebhookSender:
    """Delivers notices in a background thread; `on_done(notice, delivered_everywhere)` after each notice."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        dead_letter: Path,
        on_done: Callable[[Notice, bool], None],
        on_event: Callable[[str, str], None] = lambda result, url: None,
        attempts: int = DEFAULT_ATTEMPTS,
        first_delay_s: float = DEFAULT_FIRST_DELAY_S,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self.urls = [check_webhook(u) for u in urls]
        self.dead_letter = dead_letter
        self.on_done = on_done
        self.on_event = on_event
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self.delivered = 0
        self.dead_lettered = 0

    def start(self) -> None:
        self._thread.start()

    def send(self, notice: Notice) -> None:
        self._queue.put(notice)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish what is queued (retries shortened once `timeout_s` has passed), then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._stopping.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            notice = self._queue.get()
            if notice is None:
                return
            ok = all([self._deliver(url, notice) for url in self.urls])
            self.on_done(notice, ok)

    def _deliver(self, url: str, notice: Notice) -> bool:
        data = json.dumps(notice.body, sort_keys=True).encode()
        delay = self.first_delay_s
        error = ""
        for attempt in range(1, self.attempts + 1):
            retry, error = post_json(url, data)
            if not error:
                self.delivered += 1
                self.on_event("delivered", url)
                return True
            if not retry or attempt == self.attempts or self._stopping.is_set():
                break
            self.on_event("retried", url)
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self.max_delay_s)
        self._dead_letter(url, notice, error, attempt)
        return False

    def _dead_letter(self, url: str, notice: Notice, error: str, attempts: int) -> None:
        self.dead_lettered += 1
        self.on_event("dead-lettered", url)
        append_dead_letter(self.dead_letter, url, self.urls.index(url), attempts, error, notice.body)


def append_dead_letter(path: Path, url: str, index: int, attempts: int, error: str, body: dict[str, Any]) -> None:
    """One line of the dead-letter file: `{"at", "webhook" (scheme and host only), "webhook_index", "attempts",
    "error", "body"}` (one write in append mode, so a concurrent replay never splits a line)."""
    line = {
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "webhook": shown_url(url),
        "webhook_index": index,
        "attempts": attempts,
        "error": error,
        "body": body,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, sort_keys=True) + "\n")
