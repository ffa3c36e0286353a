"""The `credwarden` typer application: collects the command modules and maps errors to exit codes.

Each command module exposes `register(app)`; add new modules to `COMMAND_MODULES`.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "credwarden.cli.device_cmds",
)

app = typer.Typer(
    name="credwarden",
    help="Keep the TLS credentials inside nRF91 modems correct and alive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
