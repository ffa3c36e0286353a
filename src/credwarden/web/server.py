"""`credwarden serve`: check the options (safe by default), open the inventory read-only, run uvicorn.

Binding: 127.0.0.1 by default. Any address that is not loopback needs `--token-env VAR` (the bearer token is
read from that environment variable) or an explicit `--insecure-no-auth`. The token never appears in logs or pages;
the database URL is only ever shown with its password hidden.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from credwarden.errors import CredwardenError, UsageError
from credwarden.web.app import ASGIApp, create_app
from credwarden.web.data import Dashboard
from credwarden.web.db import check_schema, create_readonly_engine, resolve_readonly_url
from credwarden.web.health import DEFAULT_SILENT_HOURS, HealthSettings

log = logging.getLogger(__name__)
#: Shortest token accepted from --token-env (a bearer token is a password: make it long and random).
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ServeOptions:
    """What `credwarden serve` was asked to do."""

    db: str | None = None
    manifest: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    token_env: str | None = None
    insecure_no_auth: bool = False
    expiring_days: int = 30
    silent_after_hours: float | None = DEFAULT_SILENT_HOURS
    page_size: int = 25
    history_days: int = 90


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` only (a name that could resolve elsewhere is not loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(options: ServeOptions, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token, or None when no authentication is configured; UsageError for unsafe combinations."""
    env = os.environ if environ is None else environ
    if not 0 <= options.port <= 65535:
        raise UsageError(f"--port must be 0..65535 (0: any free port), not {options.port}")
    if options.token_env and options.insecure_no_auth:
        raise UsageError("--token-env and --insecure-no-auth exclude each other")
    if options.token_env:
        token = env.get(options.token_env, "")
        if not token:
            raise UsageError(f"--token-env {options.token_env}: the variable is not set or empty")
        if len(token) < MIN_TOKEN_LENGTH:
            raise UsageError(
                f"--token-env {options.token_env}: the token is shorter than {MIN_TOKEN_LENGTH} characters"
            )
        if token != token.strip() or any(ord(ch) < 33 or ord(ch) > 126 for ch in token):
            raise UsageError(f"--token-env {options.token_env}: the token must be printable ASCII without spaces")
        return token
    if not is_loopback(options.host) and not options.insecure_no_auth:
        raise UsageError(
            f"refusing to serve on {options.host} without authentication: give --token-env VAR (a bearer token "
            "in that environment variable) or, if the network is trusted, --insecure-no-auth"
        )
    return None


def build_dashboard(options: ServeOptions) -> tuple[Dashboard, str]:
    """The Dashboard over the inventory (opened read-only) and the database location with its password hidden."""
    from credwarden.inventory.drift import ExpectedSlot, expected_from_manifest

    if options.page_size < 1 or options.history_days < 2 or options.expiring_days < 0:
        raise UsageError("page size >= 1, history days >= 2 and expiring days >= 0 are required")
    expected: list[ExpectedSlot] = []
    manifest_name: str | None = None
    if options.manifest:
        _, expected = expected_from_manifest(options.manifest)  # validates the manifest (ValidationError)
        manifest_name = str(Path(options.manifest).expanduser().resolve())
    url = resolve_readonly_url(options.db)
    engine = create_readonly_engine(url)
    _, has_reports = check_schema(engine, url)
    silent = None if options.silent_after_hours is None else timedelta(hours=options.silent_after_hours)
    dashboard = Dashboard(
        engine,
        expected=expected,
        manifest=manifest_name,
        settings=HealthSettings(expiring_days=options.expiring_days, silent_after=silent),
        has_reports=has_reports,
        page_size=options.page_size,
        history_days=options.history_days,
    )
    return dashboard, url.render_as_string(hide_password=True)


def build_app(options: ServeOptions, environ: dict[str, str] | None = None) -> tuple[ASGIApp, Dashboard, str]:
    """(ASGI app, its Dashboard, database location) after every check; nothing is served yet."""
    token = resolve_token(options, environ)
    dashboard, location = build_dashboard(options)
    return create_app(dashboard, token=token), dashboard, location


class ServeError(CredwardenError):
    """The server could not start (address in use, no permission to bind)."""


@dataclass(frozen=True)
class Started:
    """What the running server announces once it accepts connections."""

    url: str
    db: str
    manifest: str | None
    auth: str  #: bearer | none-loopback | none-insecure

    def to_json(self) -> dict[str, str | None]:
        return {"url": self.url, "db": self.db, "manifest": self.manifest, "auth": self.auth}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(options: ServeOptions, *, on_ready: Callable[[Started], None] | None = None) -> None:
    """Check, open, bind, start computing the history, and serve until interrupted (blocking)."""
    import uvicorn

    token = resolve_token(options)
    dashboard, location = build_dashboard(options)
    app = create_app(dashboard, token=token)
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    url_host = f"[{options.host.strip('[]')}]" if ":" in options.host else options.host
    auth = "bearer" if token is not None else ("none-loopback" if is_loopback(options.host) else "none-insecure")
    started = Started(f"http://{url_host}:{port}/", location, dashboard.manifest, auth)
    dashboard.history.get()  # start the daily history in the background
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    startup = server.startup

    async def announced_startup(sockets: list[socket.socket] | None = None) -> None:
        await startup(sockets)
        if server.started and on_ready is not None:
            on_ready(started)

    server.startup = announced_startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        dashboard.close()
