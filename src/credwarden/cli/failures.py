"""Errors at the CLI boundary: every failure becomes one line on stderr and its documented exit code.

The exit code of an error is its class's `exit_code` (`credwarden.errors.ExitCode`, the one table); Ctrl-C is 130.
Never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from credwarden.cli.output import fail, note
from credwarden.errors import CredwardenError, ExitCode


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


def interrupted() -> typer.Exit:
    """The Exit for Ctrl-C (after the device was put back as found)."""
    note("interrupted")
    return typer.Exit(int(ExitCode.INTERRUPTED))
