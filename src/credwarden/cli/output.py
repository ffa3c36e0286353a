"""What the CLI prints: one JSON document or a rich rendering of the same result, progress, digests, device names.

Human output goes to stdout (tables, results) and stderr (progress, warnings, errors); `--json` puts exactly one
JSON document on stdout. Tables never break a digest or an IMEI: digests are shortened (`2C43952EE9E0..5BD1`) unless
`--wide` asks for all 64 characters; identifiers are never wrapped.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from credwarden.creds.encoding import abbreviated_digest
from credwarden.errors import ExitCode

if TYPE_CHECKING:  # rich loads when something is printed, not for `--help`
    from rich.console import Console

T = TypeVar("T")
_consoles: dict[str, Console] = {}


def stdout_console() -> Console:
    """The console of human output (created on first use)."""
    if "out" not in _consoles:
        from rich.console import Console

        _consoles["out"] = Console(soft_wrap=True)
    return _consoles["out"]


def stderr_console() -> Console:
    """The console of progress, warnings and errors (created on first use)."""
    if "err" not in _consoles:
        from rich.console import Console

        _consoles["err"] = Console(stderr=True, soft_wrap=True)
    return _consoles["err"]


def escape(text: str) -> str:
    """`text` shown as is in rich output (no markup)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


#: Characters of a shortened digest kept at its start and end.
DIGEST_HEAD, DIGEST_TAIL = 12, 4
#: Width results are laid out for with `--wide`: tables take the room whole digests need (the terminal wraps).
WIDE_COLUMNS = 250
_show_wide = False


def show_wide(flag: bool) -> None:
    """`--wide`: tables show whole digests from now on."""
    global _show_wide
    _show_wide = flag


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


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2) + "\n")
    sys.stdout.flush()


def emit(result: T, json_flag: bool, render: Callable[[T, Console], None]) -> None:
    """Print `result`: JSON (one document on stdout) when `json_flag`, else `render(result, console)` (with `--wide`
    on a console as wide as the tables need)."""
    if json_flag:
        print_json(result)
    elif _show_wide:
        from rich.console import Console

        render(result, Console(soft_wrap=True, width=max(WIDE_COLUMNS, stdout_console().width)))
    else:
        render(result, stdout_console())


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print a one-line error on stderr (`message` is plain text) and return the Exit to raise."""
    stderr_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(int(code))


def warn(message: str) -> None:
    """A one-line warning on stderr (plain text)."""
    stderr_console().print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def note(message: str) -> None:
    """A plain line on stderr (what was done besides the main output, e.g. a file written)."""
    stderr_console().print(message, highlight=False, markup=False)


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A rich spinner on stderr while the block runs, only when stderr is a terminal."""
    if not stderr_console().is_terminal:
        yield
        return
    with stderr_console().status(escape(message)):
        yield


def short_digest(sha: str | None) -> str:
    """A digest for tables: whole with `--wide`, else head..tail (the full value is always in --json)."""
    if not sha:
        return "-"
    return sha if _show_wide else abbreviated_digest(sha, DIGEST_HEAD, DIGEST_TAIL)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 change`, `5 changes` (`many` for irregular plurals: `plural(n, "entry", "entries")`)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def device_name(imei: str | None, port: str | None) -> str:
    """How human output names the device it acted on: `IMEI 352656100367872 on /dev/ttyACM0`."""
    return f"IMEI {imei or 'unknown'} on {port or '-'}"
