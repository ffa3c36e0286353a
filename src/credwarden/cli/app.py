"""The `credwarden` typer application: the global options (declared once, in `cli.context`) and the command modules.

Each command module holds its own `typer.Typer` with commands defined at module level; `COMMAND_MODULES` lists
them in the order `--help` shows them. Heavy libraries (pydantic, SQLAlchemy, cryptography) load inside the
commands that need them, so `credwarden --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from credwarden import __version__
from credwarden.cli.context import (
    BaudOption,
    DbOption,
    DebugOption,
    FlowControlOption,
    GlobalOptionsGroup,
    JsonOption,
    ModeOption,
    PortOption,
    TimeoutOption,
    WideOption,
    resolve,
)
from credwarden.cli.failures import cli_errors

#: Modules whose `commands` Typer is merged into the root (top-level commands and groups).
COMMAND_MODULES: tuple[str, ...] = (
    "credwarden.cli.device_cmds",
    "credwarden.cli.provision_cmds",
    "credwarden.cli.field_cmds",
    "credwarden.cli.inventory_cmds",
    "credwarden.cli.factory_cmds",
    "credwarden.cli.sim_cmds",
    "credwarden.cli.collect_cmds",
    "credwarden.cli.serve_cmds",
)

app = typer.Typer(
    rich_markup_mode=None,
    name="credwarden",
    cls=GlobalOptionsGroup,
    help="Keep the TLS credentials inside nRF91 modems correct and alive.\n\n"
    "Global options may be given before or after the command (`credwarden list --port X` = "
    "`credwarden --port X list`); a value on the command line beats the environment variable, which beats the "
    "default. Exit codes: see README (0 ok, 1 failure, 2 usage, 3 transport, 4 modem refused, 5 validation, "
    "6 verification, 7 timeout, 8 no device reached, 9 changes pending, 130 interrupted).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"credwarden {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    port: PortOption = None,
    baud: BaudOption = None,
    mode: ModeOption = None,
    flow_control: FlowControlOption = None,
    timeout: TimeoutOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
    wide: WideOption = False,
    debug: DebugOption = False,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Keep the TLS credentials inside nRF91 modems correct and alive."""
    with cli_errors():
        ctx.obj = resolve(
            ctx,
            port=port,
            baud=baud,
            mode=mode,
            flow_control=flow_control,
            timeout=timeout,
            debug=debug,
            json_out=json_out,
            wide=wide,
            db=db,
        )


for _module in COMMAND_MODULES:
    app.add_typer(importlib.import_module(_module).commands)
