"""Shared CLI building blocks: connection options, `--json`/`--debug`, output, error mapping, progress.

Every command module imports these so options, exit codes and output look the same everywhere:

    @app.command()
    def info(ctx: typer.Context, port: PortOption = None, json_out: JsonOption = False) -> None:
        with cli_errors():
            with open_device(ctx, port=port) as dev:
                emit(dev.info(), json_out, render_info)

Connection options are accepted both globally (`credwarden --port X info`) and per command
(`credwarden info --port X`); the command's value wins, then the global one, then the environment
(CREDWARDEN_PORT, CREDWARDEN_BAUD, CREDWARDEN_MODE), then the default.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from credwarden.errors import CredwardenError, ExitCode

if TYPE_CHECKING:
    from credwarden.modem.device import Device

MODES: tuple[str, ...] = ("auto", "at_client", "shell", "slm")

PortOption = Annotated[
    str | None,
    typer.Option(
        "--port",
        "-p",
        envvar="CREDWARDEN_PORT",
        help="Device path (/dev/ttyACM0, a pty, /dev/serial/by-id/...), pyserial URL (socket://host:port, "
        "rfc2217://, loop://), sim://[STATE][?profile=..&frontend=..], or auto. [default: auto]",
        show_default=False,
    ),
]
BaudOption = Annotated[
    int | None,
    typer.Option("--baud", envvar="CREDWARDEN_BAUD", min=300, help="Baud rate. [default: 115200]", show_default=False),
]
ModeOption = Annotated[
    str | None,
    typer.Option(
        "--mode",
        envvar="CREDWARDEN_MODE",
        help="Firmware front-end: auto, at_client (AT host), shell (NCS `at` command), slm (Serial LTE Modem). "
        "[default: auto]",
        show_default=False,
    ),
]
FlowControlOption = Annotated[
    bool | None,
    typer.Option("--flow-control/--no-flow-control", help="RTS/CTS hardware flow control. [default: off]"),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", min=0.1, help="Base seconds to wait for an answer (slow commands wait longer)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (stable schema).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Log wire traffic (secrets redacted) to stderr.")]


@dataclass(frozen=True)
class ConnectionOptions:
    """Resolved connection settings."""

    port: str = "auto"
    baud: int = 115200
    mode: str = "auto"
    flow_control: bool = False
    timeout: float | None = None
    debug: bool = False
    json: bool = False


def _global(ctx: typer.Context | None) -> ConnectionOptions:
    node = ctx
    while node is not None:
        if isinstance(node.obj, ConnectionOptions):
            return node.obj
        node = node.parent  # type: ignore[assignment]
    return ConnectionOptions()


def connection_options(
    ctx: typer.Context | None,
    *,
    port: str | None = None,
    baud: int | None = None,
    mode: str | None = None,
    flow_control: bool | None = None,
    timeout: float | None = None,
    debug: bool = False,
    json_out: bool = False,
) -> ConnectionOptions:
    """Merge a command's own options over the global ones; UsageError for an unknown mode."""
    from credwarden.errors import UsageError

    base = _global(ctx)
    merged = replace(
        base,
        port=port if port is not None else base.port,
        baud=baud if baud is not None else base.baud,
        mode=(mode if mode is not None else base.mode).strip().lower(),
        flow_control=flow_control if flow_control is not None else base.flow_control,
        timeout=timeout if timeout is not None else base.timeout,
        debug=debug or base.debug,
        json=json_out or base.json,
    )
    if merged.mode not in MODES:
        raise UsageError(f"unknown --mode {merged.mode!r}; use one of {', '.join(MODES)}")
    if merged.debug:
        from credwarden.log import configure_logging

        configure_logging(debug=True)
    return merged


def install_global_options(app: typer.Typer) -> None:
    """Add the global `--port/--baud/--mode/--flow-control/--timeout/--debug/--json` options to `app`."""

    @app.callback()
    def _global_options(
        ctx: typer.Context,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        debug: DebugOption = False,
        json_out: JsonOption = False,
    ) -> None:
        """Keep the TLS credentials inside nRF91 modems correct and alive."""
        with cli_errors():
            ctx.obj = connection_options(
                None,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )


@contextlib.contextmanager
def open_device(options: ConnectionOptions) -> Iterator[Device]:
    """Connect with resolved options (a spinner on a TTY while detecting); closes the session on exit."""
    from credwarden.api import connect

    with progress(f"connecting to {options.port}"):
        device = connect(
            options.port,
            mode=options.mode,
            baud=options.baud,
            flow_control=options.flow_control,
            timeout=options.timeout,
        )
    with device:
        yield device


def to_jsonable(result: Any) -> Any:
    """Turn a result object (with `to_json()`), list or dict of them into plain JSON data."""
    if hasattr(result, "to_json"):
        return result.to_json()
    if isinstance(result, list | tuple):
        return [to_jsonable(item) for item in result]
    if isinstance(result, dict):
        return {str(key): to_jsonable(value) for key, value in result.items()}
    if isinstance(result, bytes):
        return result.decode("ascii", errors="replace")
    return result


T = TypeVar("T")

stdout_console = Console(soft_wrap=True)
stderr_console = Console(stderr=True, soft_wrap=True)


def emit(result: T, json_flag: bool, render: Callable[[T, Console], None]) -> None:
    """Print `result`: JSON (one document on stdout) when `json_flag`, else `render(result, console)`."""
    if json_flag:
        sys.stdout.write(json.dumps(to_jsonable(result), indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()
    else:
        render(result, stdout_console)


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print a one-line error on stderr and return the Exit to raise."""
    stderr_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(int(code))


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn CredwardenError into a one-line message + its exit code, Ctrl-C into 130; never a traceback."""
    from credwarden.log import redact_text

    try:
        yield
    except CredwardenError as exc:
        raise fail(_escape(redact_text(str(exc))), exc.exit_code) from None
    except KeyboardInterrupt:
        stderr_console.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise fail(f"connection lost: {exc}", ExitCode.TRANSPORT) from None


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Decorator form of `cli_errors()`."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cli_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A rich spinner on stderr while the block runs, only when stderr is a terminal."""
    if not stderr_console.is_terminal:
        yield
        return
    with stderr_console.status(_escape(message)):
        yield


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
