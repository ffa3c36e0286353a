"""`credwarden serve`: the fleet dashboard over the inventory (read-only; 127.0.0.1 unless given a token)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credwarden.cli.common import JsonOption, cli_errors, connection_options

if TYPE_CHECKING:
    from credwarden.web.server import Started


def _announce(started: Started, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(started.to_json()) + "\n")
    else:
        auth = {
            "bearer": "bearer token required",
            "none-loopback": "no authentication (loopback only)",
            "none-insecure": "NO AUTHENTICATION (--insecure-no-auth)",
        }[started.auth]
        sys.stdout.write(f"credwarden dashboard: {started.url}  (inventory {started.db}; {auth}; Ctrl-C stops)\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        ctx: typer.Context,
        db: Annotated[
            str | None,
            typer.Option(
                "--db",
                help="Inventory: a SQLite file path or a postgresql+psycopg:// URL (opened read-only). "
                "[default: $CREDWARDEN_DB, else $XDG_DATA_HOME/credwarden/inventory.db]",
                show_default=False,
            ),
        ] = None,
        manifest: Annotated[
            Path | None,
            typer.Option("--manifest", help="What every device must hold (missing / changed / unexpected)."),
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8080,
        token_env: Annotated[
            str | None,
            typer.Option("--token-env", help="Require a bearer token, read from this environment variable."),
        ] = None,
        insecure_no_auth: Annotated[
            bool, typer.Option("--insecure-no-auth", help="Allow a non-loopback --host without a token.")
        ] = False,
        expiring_days: Annotated[int, typer.Option("--expiring-days", min=0, help="Expiring: within N days.")] = 30,
        silent_after: Annotated[
            float, typer.Option("--silent-hours", min=0.01, help="A device that reported before is silent after N h.")
        ] = 24.0,
        json_out: JsonOption = False,
    ) -> None:
        """Serve the fleet dashboard: overview, device pages and a JSON API, read-only. Ctrl-C stops (exit 0)."""
        from credwarden.web.server import ServeOptions, serve

        as_json = connection_options(ctx, json_out=json_out).json
        options = ServeOptions(
            db=db,
            manifest=str(manifest) if manifest else None,
            host=host,
            port=port,
            token_env=token_env,
            insecure_no_auth=insecure_no_auth,
            expiring_days=expiring_days,
            silent_after_hours=silent_after,
        )
        with cli_errors():
            serve(options, on_ready=lambda started: _announce(started, as_json))
