"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a server on 127.0.0.1.

Every request the pages make is intercepted and recorded: anything not addressed to the test server is aborted
and fails the test. Screenshots are kept in `test-artifacts/web/` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from credwarden.web.app import ASGIApp, create_app
from credwarden.web.data import Dashboard
from credwarden.web.db import create_readonly_engine, resolve_readonly_url
from credwarden.web.server import bind

from .web_fleet import COUNTS_MANIFEST, EXPECTED, NOW, VANISHED, write_fleet

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("CREDWARDEN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TOKEN = "browser-test-token-0123456789"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_browser() -> Any:
    """The Playwright module, or a skip (a failure under CI=true) naming what is missing."""
    reason = None
    if not Path(CHROMIUM).is_file():
        reason = f"{CHROMIUM} is missing (scripts/with-chromium.sh installs Debian's chromium as root)"
    try:
        from playwright import sync_api
    except ImportError:
        reason = "the playwright Python package is missing (pip install -e '.[dev]')"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    return sync_api


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.025)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _require_browser()
    profile = tempfile.mkdtemp(prefix="cw-chromium-")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    from credwarden.inventory import Inventory

    db = tmp_path / "inventory.db"
    with Inventory.open(str(db)) as inv:
        write_fleet(inv)
    engine = create_readonly_engine(resolve_readonly_url(str(db)))
    dashboard = Dashboard(engine, expected=EXPECTED, manifest="fleet.toml", clock=lambda: NOW)
    dashboard.history.compute_now()
    with serving(create_app(dashboard)) as url:
        yield url
    engine.dispose()


class Recorder:
    """Every request URL and console error of a page; requests to other hosts are aborted and remembered."""

    def __init__(self, page: Any, base: str) -> None:
        self.base = base
        self.urls: list[str] = []
        self.foreign: list[str] = []
        self.console_errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.urls.append(url)
        if url.startswith(self.base + "/") or url == self.base:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_overview_counts_queue_and_device_timeline(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 1600, "height": 1000})  # a 1280-px laptop at 80 % zoom
    rec = Recorder(page, site)
    response = page.goto(site + "/")
    assert response is not None and response.status == 200
    for group, count in COUNTS_MANIFEST.items():
        assert page.locator(f"#group-{group}").get_attribute("data-count") == str(count)
        assert page.locator(f"#group-{group} .card-count").inner_text() == str(count)
    assert page.locator("#total-devices").inner_text() == "8"
    row = page.locator("table.queue tbody tr").first
    assert row.locator("td").nth(1).inner_text() == "vanished"
    assert row.locator("td").nth(2).inner_text() == "42/client-key"
    assert "credwarden apply" in row.locator("td").nth(7).inner_text()
    assert page.locator("svg.spark").count() == len(COUNTS_MANIFEST)
    _shot(page, "overview-1600")
    page.get_by_role("link", name=VANISHED).first.click()
    page.wait_for_url(f"**/devices/{VANISHED}")
    assert page.locator("#device-imei").inner_text() == VANISHED
    events = page.locator("#timeline > li")
    assert events.count() == 2
    assert "vanished 42/client-key" in events.first.inner_text()
    assert "apply" in events.nth(1).inner_text() and "line-1" in events.nth(1).inner_text()
    _shot(page, "device-vanished")
    assert rec.foreign == []
    assert rec.urls and all(u.startswith("http://127.0.0.1:") for u in rec.urls)
    assert rec.console_errors == []
    page.close()


@pytest.mark.parametrize("width", [1600, 2560, 900])
def test_layout_fits_laptop_and_wide_screens(browser: Any, site: str, width: int) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 1000})
    rec = Recorder(page, site)
    for path in ("/", f"/devices/{VANISHED}"):
        page.goto(site + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways at {width} px"
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('a, button, input, select, svg[role=img]')]
                 .filter(el => el.tagName.toLowerCase() === 'svg'
                    ? !el.querySelector('title') || !el.querySelector('title').textContent.trim()
                    : !(el.innerText || el.getAttribute('aria-label') || '').trim())
                 .map(el => el.outerHTML.slice(0, 80))"""
        )
        assert unnamed == []
    _shot(page, f"overview-then-device-{width}")
    assert rec.foreign == [] and rec.console_errors == []
    page.close()


def test_token_protected_server(browser: Any, tmp_path: Path) -> None:
    """`credwarden serve --token-env` as a real process: 401 without the token, pages and API with it."""
    from credwarden.inventory import Inventory

    db = tmp_path / "inventory.db"
    with Inventory.open(str(db)) as inv:
        write_fleet(inv)
    env = {**os.environ, "CW_DASH_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "credwarden",
            "serve",
            "--db",
            str(db),
            "--port",
            "0",
            "--token-env",
            "CW_DASH_TOKEN",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        import json

        started = json.loads(proc.stdout.readline())
        assert started["auth"] == "bearer" and started["url"].startswith("http://127.0.0.1:")
        base = started["url"].rstrip("/")
        page = browser.new_page()
        rec = Recorder(page, base)
        # (a navigation would stop at the browser's own password prompt: ask as a plain request)
        assert page.request.get(base + "/").status == 401
        api_denied = page.request.get(base + "/api/fleet")
        assert api_denied.status == 401
        page.close()
        authed = browser.new_page()
        authed.set_extra_http_headers({"Authorization": f"Bearer {TOKEN}"})
        rec = Recorder(authed, base)
        ok = authed.goto(base + "/")
        assert ok is not None and ok.status == 200
        assert authed.locator("#total-devices").inner_text() == "8"
        assert TOKEN not in authed.content()
        _shot(authed, "overview-with-token")
        assert rec.foreign == [] and rec.console_errors == []
        authed.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert TOKEN not in err
