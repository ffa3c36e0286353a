"""Errors at the CLI boundary: every failure becomes one line on stderr and its documented exit code.

The exit code of an error is its class's `exit_code` (`credwarden.errors.ExitCode`, the one table); Ctrl-C is 130.
Never a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import typer

from credwarden.cli.output import fail, note, print_json
from credwarden.errors import CredwardenError, ExitCode, ValidationError


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn CredwardenError into a one-line message + its exit code, Ctrl-C into 130."""
    from credwarden.log import redact_text

    try:
        yield
    except CredwardenError as exc:
        raise fail(redact_text(str(exc)), exc.exit_code) from None
    except KeyboardInterrupt:
        raise interrupted() from None
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise fail(f"connection lost: {exc}", ExitCode.TRANSPORT) from None


def validation_json(exc: ValidationError) -> typer.Exit:
    """`--json` form of a validation failure: `{"ok": false, "problems": [{"source", "reason"}]}` on stdout, exit 5."""
    from credwarden.provision.manifest import ManifestError

    problems = exc.problems if isinstance(exc, ManifestError) else [exc]
    print_json({"ok": False, "problems": [{"source": p.source, "reason": p.reason} for p in problems]})
    return typer.Exit(int(ExitCode.VALIDATION))


@contextlib.contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold Ctrl-C until the block is done (a report that must come out whole, a short database transaction),
    then raise it; a second Ctrl-C stops the block at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def interrupted() -> typer.Exit:
    """The Exit for Ctrl-C (after the device was put back as found)."""
    note("interrupted")
    return typer.Exit(int(ExitCode.INTERRUPTED))
