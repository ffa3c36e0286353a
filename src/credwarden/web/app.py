"""The dashboard's ASGI application (Starlette + Jinja2): pages, the JSON API behind them, /healthz.

Read-only by construction: only GET/HEAD routes exist and the engine cannot write. Pages are complete without
JavaScript (charts are inline SVG from `credwarden.web.svg`); the Content-Security-Policy allows no script and
no origin but this server, so a page can never make the browser contact another host.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from credwarden.types import type_name
from credwarden.web import svg
from credwarden.web.data import Dashboard
from credwarden.web.health import GROUP_LABELS, GROUPS
from credwarden.web.views import Breakdown, FleetOverview

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

#: The JSON API, as listed by `/api` (and documented in the README).
API_INDEX = {
    "/api/fleet": "overview: counts per health group with daily history, queue page (?page=N), expiry weeks, "
    "breakdowns by firmware and station",
    "/api/devices/{imei}": "one device: slots against the manifest, problems with repair commands, timeline",
    "/healthz": "liveness: {status}",
}


class BearerAuth:
    """ASGI middleware: every request but /healthz needs the token (Bearer, or Basic with the token as password).

    The token is compared with `hmac.compare_digest`; it is never logged or echoed. Answers 401 with
    `WWW-Authenticate` so a browser asks for it (any user name, the token as password).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("empty token")
        self.app = app
        self._token = token.encode()

    def _accepted(self, header: bytes) -> bool:
        scheme, _, value = header.partition(b" ")
        scheme = scheme.lower()
        candidate = b""
        if scheme == b"bearer":
            candidate = value.strip()
        elif scheme == b"basic":
            try:
                candidate = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                candidate = b""
        return hmac.compare_digest(candidate, self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value
                break
        if self._accepted(header):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "unauthorized", "detail": "send the token as 'Authorization: Bearer <token>'"},
            status_code=401,
            headers={"www-authenticate": 'Basic realm="credwarden", charset="UTF-8"', **SECURITY_HEADERS},
        )
        await response(scope, receive, send)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("credwarden.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["when_s"] = _when_seconds
    env.filters["ago"] = _ago
    env.filters["type_name"] = type_name
    env.filters["short"] = lambda sha: "-" if not sha else f"{sha[:12]}…"
    env.globals.update(
        svg=svg, group_labels=GROUP_LABELS, groups=GROUPS, expiry_chart=_expiry_chart, group_bar=_group_bar
    )
    return env


def _expiry_chart(overview: FleetOverview) -> Markup:
    bars = [(w.start.strftime("%d %b"), w.devices) for w in overview.expiry_weeks]
    return svg.bar_chart(
        bars, label="Devices per week of their first certificate expiry, next 12 months", highlight=4, every=4
    )


def _group_bar(row: Breakdown) -> Markup:
    return svg.stacked_bar(
        [(g, row.groups.get(g, 0)) for g in GROUPS], label=f"{row.key or 'unknown'}: devices per health group"
    )


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _when_seconds(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = "now"
    return f"in {text}" if future else (text if text == "now" else f"{text} ago")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 1_000_000:
        raise ValueError(f"page must be a positive integer, not {raw[:20]!r}")
    return int(raw)


def create_app(dashboard: Dashboard, *, token: str | None = None, title: str = "credwarden fleet") -> ASGIApp:
    """The ASGI app over `dashboard`; with `token`, every route but /healthz needs it."""
    env = _environment()

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(title=title, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def bad_request(message: str, as_json: bool) -> Response:
        if as_json:
            return JSONResponse({"error": "bad request", "detail": message}, status_code=400, headers=SECURITY_HEADERS)
        return render("error.html", 400, heading="Bad request", message=message)

    async def overview_data(request: Request) -> FleetOverview:
        return await run_in_threadpool(dashboard.overview, _page_number(request))

    async def overview_page(request: Request) -> Response:
        try:
            data = await overview_data(request)
        except ValueError as exc:
            return bad_request(str(exc), as_json=False)
        return render("overview.html", o=data, now=data.generated_at)

    async def fleet_api(request: Request) -> Response:
        try:
            data = await overview_data(request)
        except ValueError as exc:
            return bad_request(str(exc), as_json=True)
        return JSONResponse(data.to_json(), headers=SECURITY_HEADERS)

    async def device_page(request: Request) -> Response:
        imei = request.path_params["imei"]
        detail = await run_in_threadpool(dashboard.device, imei)
        if detail is None:
            return render("error.html", 404, heading="Unknown device", message=f"No device {imei} in the inventory.")
        return render("device.html", d=detail, now=dashboard.clock())

    async def device_api(request: Request) -> Response:
        imei = request.path_params["imei"]
        detail = await run_in_threadpool(dashboard.device, imei)
        if detail is None:
            return JSONResponse(
                {"error": "not found", "detail": f"no device {imei} in the inventory"},
                status_code=404,
                headers=SECURITY_HEADERS,
            )
        return JSONResponse(detail.to_json(), headers=SECURITY_HEADERS)

    async def api_index(_request: Request) -> Response:
        return JSONResponse({"endpoints": API_INDEX}, headers=SECURITY_HEADERS)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=SECURITY_HEADERS)

    stylesheet = files("credwarden.web").joinpath("static/style.css").read_bytes()

    async def style(_request: Request) -> Response:
        headers = {**SECURITY_HEADERS, "cache-control": "max-age=3600"}
        return Response(stylesheet, media_type="text/css", headers=headers)

    async def not_found(request: Request, _exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, status_code=404, headers=SECURITY_HEADERS)
        return render("error.html", 404, heading="Not found", message="There is no such page.")

    async def method_not_allowed(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(
            {"error": "method not allowed", "detail": "the dashboard is read-only"},
            status_code=405,
            headers={"allow": "GET, HEAD", **SECURITY_HEADERS},
        )

    routes = [
        Route("/", overview_page, methods=["GET", "HEAD"]),
        Route("/api", api_index, methods=["GET", "HEAD"]),
        Route("/api/fleet", fleet_api, methods=["GET", "HEAD"]),
        Route("/devices/{imei}", device_page, methods=["GET", "HEAD"]),
        Route("/api/devices/{imei}", device_api, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/static/style.css", style, methods=["GET", "HEAD"]),
    ]
    app: ASGIApp = Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed})
    app = _timed(app)
    if token is not None:
        app = BearerAuth(app, token)
    return app


def _timed(app: ASGIApp) -> ASGIApp:
    """Adds `Server-Timing: app;dur=<ms>` (the server's own time for the request) to every response."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"server-timing", f"app;dur={ms:.1f}".encode())]
            await send(message)

        await app(scope, receive, timed_send)

    return wrapper


__all__ = ["API_INDEX", "SECURITY_HEADERS", "BearerAuth", "create_app"]
