"""Pure parts of the dashboard: SVG charts, history sums, health rules, bind/auth checks, the auth middleware."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from credwarden.errors import UsageError
from credwarden.web import svg
from credwarden.web.app import BearerAuth, create_app
from credwarden.web.health import GROUPS, SEVERITY, HealthSettings, repair_command
from credwarden.web.history import accumulate
from credwarden.web.server import ServeOptions, Started, is_loopback, resolve_token

TOKEN = "s3cret-token-0123456789"


def test_sparkline_points_follow_the_values() -> None:
    markup = str(svg.sparkline([0, 5, 10], label="ok <devices>", width=100, height=20))
    points = re.search(r'points="([^"]+)"', markup)
    assert points is not None
    coords = [tuple(map(float, p.split(","))) for p in points.group(1).split()]
    assert len(coords) == 3
    assert coords[0][1] > coords[1][1] > coords[2][1]  # higher values are drawn higher up
    assert coords[0][0] < coords[1][0] < coords[2][0]
    assert "ok &lt;devices&gt;" in markup and 'role="img"' in markup
    assert "<circle" in markup


def test_sparkline_placeholder_and_flat_line() -> None:
    assert "spark-none" in str(svg.sparkline([], label="x"))
    flat = str(svg.sparkline([3, 3, 3], label="x"))
    assert "nan" not in flat and "polyline" in flat


def test_bar_chart_heights_and_titles() -> None:
    markup = str(svg.bar_chart([("w0", 2), ("w1", 4), ("w2", 0)], label="weeks", height=118, highlight=0))
    heights = [
        float(h) for h in re.findall(r'<rect class="[^"]*" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', markup)
    ]
    assert heights == [43.0, 86.0, 0.0]  # plot height 118 - 18 - 14 = 86
    assert markup.count('class="bar warn"') == 1
    assert "<title>w1: 4</title>" in markup


def test_stacked_bar_widths_add_up() -> None:
    markup = str(svg.stacked_bar([("ok", 3), ("drift", 1), ("expired", 0)], label="fw", width=200))
    widths = [float(w) for w in re.findall(r'width="([0-9.]+)" height', markup)]
    assert widths == [150.0, 50.0]
    assert "seg-expired" not in markup


def test_accumulate_running_sums() -> None:
    counts = accumulate([(0, "ok", 5), (2, "ok", -2), (2, "missing", 2), (9, "ok", 1), (1, "bogus", 3)], 4)
    assert counts["ok"] == [5, 5, 3, 3]
    assert counts["missing"] == [0, 0, 2, 2]
    assert set(counts) == set(GROUPS)


def test_health_vocabulary() -> None:
    assert set(SEVERITY) == set(GROUPS)
    assert SEVERITY[0] == "missing" and SEVERITY[-1] == "ok"
    assert repair_command("vanished", "1", "m.toml") == "credwarden apply m.toml --port auto"
    assert repair_command("unexpected", "1", None) == "credwarden apply MANIFEST --prune --port auto"
    assert repair_command("silent", "352656100000011", None) == "credwarden inventory history 352656100000011"
    with pytest.raises(ValueError):
        repair_command("bogus", "1", None)
    with pytest.raises(ValueError):
        HealthSettings(silent_after=timedelta(0))


def test_loopback_and_token_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("example.org")
    assert resolve_token(ServeOptions(), {}) is None
    with pytest.raises(UsageError, match="--token-env VAR"):
        resolve_token(ServeOptions(host="0.0.0.0"), {})
    assert resolve_token(ServeOptions(host="0.0.0.0", insecure_no_auth=True), {}) is None
    assert resolve_token(ServeOptions(host="0.0.0.0", token_env="T"), {"T": TOKEN}) == TOKEN
    with pytest.raises(UsageError, match="not set or empty"):
        resolve_token(ServeOptions(token_env="T"), {})
    with pytest.raises(UsageError, match="shorter"):
        resolve_token(ServeOptions(token_env="T"), {"T": "short"})
    with pytest.raises(UsageError, match="exclude"):
        resolve_token(ServeOptions(token_env="T", insecure_no_auth=True), {"T": TOKEN})
    with pytest.raises(UsageError, match="port"):
        resolve_token(ServeOptions(port=70000), {})
    try:
        resolve_token(ServeOptions(token_env="T"), {"T": "x" * 15})
    except UsageError as exc:
        assert "x" * 15 not in str(exc)  # the token never appears in a message


def test_started_announcement_has_no_password() -> None:
    from credwarden.web.db import resolve_readonly_url

    url = resolve_readonly_url("postgresql://user:hunter2secret@db.example/inv")
    started = Started("http://127.0.0.1:8080/", url.render_as_string(hide_password=True), None, "bearer")
    assert "hunter2secret" not in str(started.to_json())


class _Echo:
    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})


def test_bearer_middleware() -> None:
    client = TestClient(BearerAuth(_Echo(), TOKEN))
    assert client.get("/").status_code == 401
    denied = client.get("/api/fleet", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert denied.status_code == 401 and TOKEN not in denied.text
    assert denied.headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).text == "fine"
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    assert client.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_app_requires_token_on_api_and_pages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from credwarden.inventory import Inventory
    from credwarden.web.data import Dashboard
    from credwarden.web.db import create_readonly_engine, resolve_readonly_url

    db = tmp_path / "inv.db"
    Inventory.open(str(db)).close()
    dashboard = Dashboard(create_readonly_engine(resolve_readonly_url(str(db))))
    client = TestClient(create_app(dashboard, token=TOKEN))
    for path in ("/", "/api/fleet", "/api/devices/1", "/devices/1", "/static/style.css"):
        assert client.get(path).status_code == 401, path
    ok = client.get("/api/fleet", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["total_devices"] == 0
    assert "content-security-policy" in ok.headers and "server-timing" in ok.headers


def test_serve_cli_refuses_unsafe_or_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from credwarden.inventory import Inventory

    db = tmp_path / "inv.db"
    Inventory.open(str(db)).close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "NOT_SET_TOKEN"}
        return subprocess.run(
            [sys.executable, "-m", "credwarden", "serve", *args], capture_output=True, text=True, env=env, timeout=60
        )

    unsafe = run("--db", str(db), "--host", "0.0.0.0", "--port", "0")
    assert unsafe.returncode == 2 and "--token-env" in unsafe.stderr
    unset = run("--db", str(db), "--port", "0", "--token-env", "NOT_SET_TOKEN")
    assert unset.returncode == 2 and "not set" in unset.stderr
    missing = run("--db", str(tmp_path / "none.db"), "--port", "0")
    assert missing.returncode == 2 and not (tmp_path / "none.db").exists()
    bad_manifest = tmp_path / "m.toml"
    bad_manifest.write_text("[[credential]]\nsec_tag = 'x'\n")
    invalid = run("--db", str(db), "--port", "0", "--manifest", str(bad_manifest))
    assert invalid.returncode == 5, invalid.stderr


def test_silence_defaults_agree_with_the_collector() -> None:
    """serve's --silent-hours default, the library default and the collector's interval x missed intervals."""
    import inspect

    from credwarden.cli.serve_cmds import serve
    from credwarden.collect.pipeline import Rules
    from credwarden.web.health import DEFAULT_SILENT_HOURS
    from credwarden.web.server import ServeOptions

    cli_default = inspect.signature(serve).parameters["silent_hours"].default
    rules = Rules()
    assert cli_default == DEFAULT_SILENT_HOURS == ServeOptions(db=None).silent_after_hours
    assert HealthSettings().silent_after == timedelta(hours=DEFAULT_SILENT_HOURS)
    assert rules.interval_s * rules.silent_intervals == DEFAULT_SILENT_HOURS * 3600
