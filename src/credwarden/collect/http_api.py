"""The collector's HTTP side (Starlette, served by uvicorn in a thread): `POST /ingest`, `GET /metrics`,
`GET /healthz`.

`POST /ingest` takes a CW/1 or CWS/1 report as `text/plain`, or JSON (a device message
`{"appId", "messageType", "data": "CW/1 ..."}` or an nRF Cloud message-routing batch). It answers once the
reports are committed (or refused): 200 with what happened; for a single report refused, 422 (413 when too
large), so a sender can tell; a batch always gets 200 with per-message results (a retry would fail again).
Bound to 127.0.0.1 unless a bearer token protects every route (constant-time comparison).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from credwarden.collect.metrics import CONTENT_TYPE, CollectorMetrics
from credwarden.errors import UsageError
from credwarden.report.envelope import MAX_BATCH_BYTES, Envelope, unwrap_json
from credwarden.report.errors import OVERSIZED, ReportRejected


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted report."""

    accepted: bool
    reason: str | None = None
    detail: str | None = None
    report_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.accepted:
            return {"accepted": True, "report_id": self.report_id}
        return {"accepted": False, "reason": self.reason, "detail": self.detail}


Submit = Callable[[Envelope], "Future[Outcome]"]


def parse_bind(value: str, *, token: bool) -> tuple[str, int]:
    """`HOST:PORT` for `--http`; anything but loopback needs a token."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65_535:
        raise UsageError(f"--http must be HOST:PORT (e.g. 127.0.0.1:8080), not {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    if not token and not _loopback(host):
        raise UsageError(
            f"--http {value}: binding beyond 127.0.0.1 needs a bearer token (--token-env VAR naming the variable "
            "that holds it)"
        )
    return host, int(port_text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(
    *,
    submit: Submit,
    reject: Callable[[ReportRejected, bytes], None],
    metrics: CollectorMetrics,
    token: str | None,
    health: Callable[[], dict[str, Any]],
) -> Starlette:
    """The ASGI application: `submit` stores one report (a future of its outcome), `reject` counts a body
    refused before any report could be read from it."""

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            if token is not None:
                given = request.headers.get("authorization", "")
                expected = f"Bearer {token}"
                if not hmac.compare_digest(given.encode(), expected.encode()):
                    return JSONResponse(
                        {"error": "missing or wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
                    )
            return await handler(request)

        return wrapper

    async def ingest(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
            return _too_large(reject, b"")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BATCH_BYTES:
                return _too_large(reject, bytes(body[:1024]))
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        batch = False
        skipped = 0
        if kind == "application/json":
            try:
                unwrapped = unwrap_json(bytes(body))
            except ReportRejected as exc:
                reject(exc, bytes(body))
                return JSONResponse(Outcome(False, exc.code, str(exc)).to_json(), 422)
            envelopes = list(unwrapped.envelopes)
            skipped = unwrapped.skipped
            batch = unwrapped.skipped > 0 or len(envelopes) != 1 or _is_batch(bytes(body))
        else:
            envelopes = [Envelope(bytes(body).decode("latin-1"))]
        futures = [submit(env) for env in envelopes]  # all queued first: one batch, one transaction
        outcomes = [await _wait(future) for future in futures]
        if batch:
            return JSONResponse(
                {
                    "accepted": sum(1 for o in outcomes if o.accepted),
                    "rejected": [o.to_json() for o in outcomes if not o.accepted],
                    "skipped": skipped,
                }
            )
        [outcome] = outcomes
        if outcome.accepted:
            return JSONResponse(outcome.to_json())
        if outcome.reason is None:  # busy or stopping: worth sending again
            return JSONResponse(outcome.to_json(), 503, headers={"Retry-After": "5"})
        return JSONResponse(outcome.to_json(), 413 if outcome.reason == OVERSIZED else 422)

    async def metrics_route(_request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def healthz(_request: Request) -> Response:
        return JSONResponse(health())

    return Starlette(
        routes=[
            Route("/ingest", guarded(ingest), methods=["POST"]),
            Route("/metrics", guarded(metrics_route), methods=["GET"]),
            Route("/healthz", guarded(healthz), methods=["GET"]),
        ]
    )


def _too_large(reject: Callable[[ReportRejected, bytes], None], start: bytes) -> Response:
    exc = ReportRejected(OVERSIZED, f"request body larger than {MAX_BATCH_BYTES} bytes")
    reject(exc, start)
    return JSONResponse(Outcome(False, exc.code, str(exc)).to_json(), 413)


def _is_batch(body: bytes) -> bool:
    return b'"messages"' in body


async def _wait(future: Future[Outcome]) -> Outcome:
    return await asyncio.wrap_future(future)


class HttpServer:
    """uvicorn serving the app in a background thread."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout_s * 50)):
            if self.server.started or not self._thread.is_alive():
                break
            waited.wait(0.02)
        if not self.server.started:
            raise UsageError(f"the HTTP server could not listen on {self.host} (port in use?)")

    @property
    def port(self) -> int:
        sockets = [s for server in self.server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1]) if sockets else 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
