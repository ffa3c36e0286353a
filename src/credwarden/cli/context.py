"""The CLI's global options: declared once, resolved once, readable by every command through `cli_context(ctx)`.

Precedence, for every option: the command line (before or after the command name) > the environment variable >
the default. Global options may be written anywhere on the command line (`credwarden --port X list` and
`credwarden list --port X` are the same): `GlobalOptionsGroup` moves them in front of the command before click
parses, unless the command declares an option of the same name itself (then it is that command's own option).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from credwarden.errors import UsageError
from credwarden.types import MODES

if TYPE_CHECKING:
    from credwarden.modem.device import Device

#: Default `--port`: the single attached Nordic board.
DEFAULT_PORT = "auto"
DEFAULT_BAUD = 115200


@dataclass(frozen=True)
class CliContext:
    """The resolved global options of one invocation (`ctx.obj`)."""

    ports: tuple[str, ...] = ()  #: every --port given (apply provisions several); empty = the default
    baud: int = DEFAULT_BAUD
    mode: str = "auto"
    flow_control: bool = False
    timeout: float | None = None
    debug: bool = False
    json: bool = False
    wide: bool = False
    db: str | None = None  #: inventory database path or URL (None: the per-user default)
    explicit: frozenset[str] = field(default_factory=frozenset)  #: options given on the command line or in env

    @property
    def port(self) -> str:
        """The one port of a single-device command (UsageError when several were given)."""
        if len(self.ports) > 1:
            raise UsageError(
                f"{len(self.ports)} ports given ({', '.join(self.ports)}); this command works on one device "
                "(only `apply` provisions several boards at once)"
            )
        return self.ports[0] if self.ports else DEFAULT_PORT

    def given(self, name: str) -> bool:
        """True when option `name` was set on the command line or through its environment variable."""
        return name in self.explicit


def cli_context(ctx: typer.Context) -> CliContext:
    """The global options of this invocation (defaults when the command runs without the root callback)."""
    node: Any = ctx
    while node is not None:
        if isinstance(node.obj, CliContext):
            return node.obj
        node = node.parent
    return CliContext()


@contextlib.contextmanager
def open_device(options: CliContext) -> Iterator[Device]:
    """Connect with the global options (a spinner on a terminal while detecting); closes the session on exit."""
    from credwarden.api import connect
    from credwarden.cli.output import progress

    port = options.port
    with progress(f"connecting to {port}"):
        device = connect(
            port, mode=options.mode, baud=options.baud, flow_control=options.flow_control, timeout=options.timeout
        )
    with device:
        yield device


# -- declaration (the root callback) -----------------------------------------------------------------------------

PortOption = Annotated[
    list[str] | None,
    typer.Option(
        "--port",
        "-p",
        metavar="PORT",
        envvar="CREDWARDEN_PORT",
        help="Device path (/dev/ttyACM0, a pty, /dev/serial/by-id/...), pyserial URL (socket://host:port, "
        "rfc2217://, loop://), sim://[STATE][?profile=..&frontend=..], or auto. Repeat it to provision several "
        "boards with `apply`. (env CREDWARDEN_PORT; default auto)",
        show_default=False,
        show_envvar=False,
    ),
]
BaudOption = Annotated[
    int | None,
    typer.Option(
        "--baud",
        metavar="BAUD",
        envvar="CREDWARDEN_BAUD",
        min=300,
        help="UART speed. (env CREDWARDEN_BAUD; default 115200)",
        show_default=False,
        show_envvar=False,
    ),
]
ModeOption = Annotated[
    str | None,
    typer.Option(
        "--mode",
        metavar="MODE",
        envvar="CREDWARDEN_MODE",
        help="Firmware front-end: auto, at_client (AT host), shell (NCS `at` command), slm (Serial LTE Modem). "
        "(env CREDWARDEN_MODE; default auto)",
        show_default=False,
        show_envvar=False,
    ),
]
FlowControlOption = Annotated[
    bool | None,
    typer.Option(
        "--flow-control/--no-flow-control",
        envvar="CREDWARDEN_FLOW_CONTROL",
        help="RTS/CTS hardware flow control. (env CREDWARDEN_FLOW_CONTROL; default off)",
        show_default=False,
        show_envvar=False,
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        envvar="CREDWARDEN_TIMEOUT",
        min=0.1,
        help="Base seconds to wait for an answer (slow commands wait longer). (env CREDWARDEN_TIMEOUT)",
        show_default=False,
        show_envvar=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        "--inventory",
        metavar="DB",
        envvar="CREDWARDEN_DB",
        help="Inventory database: a SQLite file path or a postgresql+psycopg:// URL. (env CREDWARDEN_DB; "
        "default $XDG_DATA_HOME/credwarden/inventory.db)",
        show_default=False,
        show_envvar=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (stable schema).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Log wire traffic (secrets redacted) to stderr.")]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Show full digests in tables (they are always full in --json).")
]

#: Parameter names of the global options, as `CliContext.explicit` records them.
GLOBAL_NAMES = ("port", "baud", "mode", "flow_control", "timeout", "debug", "json_out", "wide", "db")


def _explicit(ctx: typer.Context) -> frozenset[str]:
    def source(name: str) -> str:
        found = ctx.get_parameter_source(name)
        return found.name if found is not None else ""

    return frozenset(name for name in GLOBAL_NAMES if source(name) in ("COMMANDLINE", "ENVIRONMENT"))


def resolve(
    ctx: typer.Context,
    *,
    port: list[str] | None,
    baud: int | None,
    mode: str | None,
    flow_control: bool | None,
    timeout: float | None,
    debug: bool,
    json_out: bool,
    wide: bool,
    db: str | None,
) -> CliContext:
    """Validate the global options once and build the context every command reads."""
    chosen_mode = (mode or "auto").strip().lower()
    if chosen_mode not in MODES:
        raise UsageError(f"unknown --mode {chosen_mode!r}; use one of {', '.join(MODES)}")
    ports = tuple(p for p in (port or ()) if p.strip())
    if debug:
        from credwarden.log import configure_logging

        configure_logging(debug=True)
    from credwarden.cli.output import show_wide

    show_wide(wide)
    return CliContext(
        ports=ports,
        baud=baud if baud is not None else DEFAULT_BAUD,
        mode=chosen_mode,
        flow_control=bool(flow_control),
        timeout=timeout,
        debug=debug,
        json=json_out,
        wide=wide,
        db=db or None,
        explicit=_explicit(ctx),
    )


# -- placement anywhere ------------------------------------------------------------------------------------------


def _takes_value(param: Any) -> bool:
    return not getattr(param, "is_flag", True) and not getattr(param, "count", False)


def _option_named(command: Any, name: str) -> Any:
    """The option of `command` spelled `name` (an argument has no `opts` starting with '-'), else None."""
    for param in command.params:
        if param.param_type_name == "option" and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def hoist_global_options(root: Any, args: list[str]) -> list[str]:
    """`args` with the root's options moved in front of the command path (see the module doc)."""
    front: list[str] = []
    rest: list[str] = []
    command: Any = root
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        if token.startswith("-") and token != "-":
            name, has_value, _ = token.partition("=") if token.startswith("--") else (token, "", "")
            if not token.startswith("--") and len(token) > 2:  # -pVALUE: a short option with its value attached
                name, has_value = token[:2], "="
            own = _option_named(command, name) if command is not root else None
            found = own if own is not None else _option_named(root, name)
            target = rest if own is not None or found is None else front
            target.append(token)
            if found is not None and _takes_value(found) and not has_value and index + 1 < len(args):
                target.append(args[index + 1])
                index += 1
            index += 1
            continue
        subcommands = getattr(command, "commands", None)
        if isinstance(subcommands, dict) and token in subcommands:
            command = subcommands[token]
        rest.append(token)
        index += 1
    return front + rest


class GlobalOptionsGroup(TyperGroup):
    """The root group: global options are accepted before or after the command name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, list(args)))
