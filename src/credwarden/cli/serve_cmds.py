"""`credwarden serve`: the fleet dashboard over the inventory (read-only; 127.0.0.1 unless given a token).

Exit codes: 0 stopped by Ctrl-C / SIGTERM, 1 the address cannot be bound, 2 bad options (a non-loopback --host
without --token-env or --insecure-no-auth, an unset token variable, no inventory at --db, an unreadable schema),
5 the manifest is invalid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credwarden.cli.context import cli_context
from credwarden.cli.failures import cli_errors

if TYPE_CHECKING:
    from credwarden.web.server import Started

commands = typer.Typer()

_AUTH_TEXT = {
    "bearer": "bearer token required",
    "none-loopback": "no authentication (loopback only)",
    "none-insecure": "NO AUTHENTICATION (--insecure-no-auth)",
}


def _announce(started: Started, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(started.to_json()) + "\n")
    else:
        sys.stdout.write(
            f"credwarden dashboard: {started.url}  (inventory {started.db}; {_AUTH_TEXT[started.auth]}; Ctrl-C stops)\n"
        )
    sys.stdout.flush()


@commands.command(rich_help_panel="Fleet")
def serve(
    ctx: typer.Context,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="What every device must hold (missing / changed / unexpected).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on (0: any free port).")] = 8080,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", help="Require a bearer token, read from this environment variable."),
    ] = None,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Allow a non-loopback --host without a token.")
    ] = False,
    expiring_days: Annotated[int, typer.Option("--expiring-days", min=0, help="Expiring: within N days.")] = 30,
    silent_hours: Annotated[
        float,
        typer.Option(
            "--silent-hours", min=0.01, help="A device that reported before is silent after N h (3 daily reports)."
        ),
    ] = 72.0,
) -> None:
    """Serve the fleet dashboard: overview, device pages and a JSON API, read-only (--db: the inventory).

    Exit 0 when stopped (Ctrl-C / SIGTERM), 1 when the address cannot be bound, 2 on usage errors (an unsafe bind,
    a missing token variable, no inventory, an unknown schema), 5 for an invalid manifest."""
    from credwarden.web.server import ServeOptions
    from credwarden.web.server import serve as run_server

    with cli_errors():
        context = cli_context(ctx)
        options = ServeOptions(
            db=context.db,
            manifest=str(manifest) if manifest else None,
            host=host,
            port=port,
            token_env=token_env,
            insecure_no_auth=insecure_no_auth,
            expiring_days=expiring_days,
            silent_after_hours=silent_hours,
        )
        run_server(options, on_ready=lambda started: _announce(started, context.json))
