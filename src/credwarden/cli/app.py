"""The `credwarden` typer application: collects the command modules and maps errors to exit codes.

Each command module exposes `register(app)`; add new modules to `COMMAND_MODULES`.
"""

from __future__ import annotations

import importlib

import typer

from credwarden.cli.common import install_global_options

COMMAND_MODULES: tuple[str, ...] = (
    "credwarden.cli.device_cmds",
    "credwarden.cli.provision_cmds",
    "credwarden.cli.sim_cmds",
    "credwarden.cli.field_cmds",
    "credwarden.cli.inventory_cmds",
    "credwarden.cli.factory_cmds",
    "credwarden.cli.serve_cmds",
)

app = typer.Typer(
    name="credwarden",
    help="Keep the TLS credentials inside nRF91 modems correct and alive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

install_global_options(app)  # --port/--baud/--mode/--flow-control/--timeout/--debug/--json before the command

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
