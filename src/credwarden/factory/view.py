"""Progress views of a batch: a rich live table (terminal), one line per stage change (pipes, logs),
or JSON lines (one result object per device, `--json`).

Every view is a thread-safe `Listener` (called from device threads) plus `start()` / `stop(summary)`.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import IO, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from credwarden.factory.results import BatchSummary, DeviceResult, Stage
from credwarden.factory.runner import ProgressEvent

_STAGE_STYLE = {
    Stage.QUEUED: "dim",
    Stage.DETECT: "cyan",
    Stage.PLAN: "cyan",
    Stage.WRITE: "yellow",
    Stage.KEYGEN: "yellow",
    Stage.VERIFY: "blue",
    Stage.RECORD: "blue",
    Stage.DONE: "green",
    Stage.FAILED: "bold red",
}


class BatchView(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...
    def start(self) -> None: ...
    def stop(self, summary: BatchSummary | None) -> None: ...


@dataclass
class _Row:
    stage: Stage
    detail: str
    elapsed_s: float
    bytes_out: int
    bytes_in: int
    result: DeviceResult | None


def human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def compact_bytes(count: int) -> str:
    """`812B`, `1.5k`, `2.3M` (for narrow table columns)."""
    if count < 1024:
        return f"{count}B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f}k"
    return f"{count / (1024 * 1024):.1f}M"


def stage_text(stage: Stage, detail: str) -> str:
    """`write 2/5`, `failed (no_answer)`, `done (unchanged)`."""
    if not detail:
        return stage.value
    if stage in (Stage.DONE, Stage.FAILED):
        return f"{stage.value} ({detail})"
    return f"{stage.value} {detail}"


class LiveTableView:
    """A rich `Live` table with one row per port, refreshed a few times a second; failure reasons and a summary
    are printed below it at the end."""

    def __init__(self, console: Console | None = None, *, title: str = "credwarden factory") -> None:
        self._console = console or Console()
        self._title = title
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()
        self._live = Live(console=self._console, get_renderable=self._render, refresh_per_second=4, transient=False)

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self._rows[event.port] = _Row(
                event.stage, event.detail, event.elapsed_s, event.bytes_out, event.bytes_in, event.result
            )

    def start(self) -> None:
        self._live.start()

    def stop(self, summary: BatchSummary | None) -> None:
        self._live.refresh()
        self._live.stop()
        with self._lock:
            failed = [(port, row.result) for port, row in self._rows.items() if row.result and not row.result.ok]
        for port, result in failed:  # the table truncates: the full reason, once, below it
            self._console.print(Text(f"{port}: {result.status.value}: {result.error or ''}", style="red"))
        if summary is not None:
            style = "green" if summary.failed == 0 else ("bold red" if summary.reached == 0 else "yellow")
            self._console.print(Text(summary.describe(), style=style))

    def _render(self) -> RenderableType:
        table = Table(title=Text(self._title), expand=False)
        table.add_column("port", overflow="fold", min_width=12)
        table.add_column("stage", no_wrap=True)
        table.add_column("out/in", justify="right", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("imei", no_wrap=True, min_width=15)
        with self._lock:
            rows = list(self._rows.items())
        done = 0
        for port, row in rows:
            result = row.result
            if result is not None:
                done += 1
            table.add_row(
                port,
                Text(stage_text(row.stage, row.detail), style=_STAGE_STYLE[row.stage]),  # final: done (applied)
                f"{compact_bytes(row.bytes_out)}/{compact_bytes(row.bytes_in)}",
                f"{row.elapsed_s:.1f}s",
                (result.imei if result else None) or "",
            )
        return Group(table, Text(f"{done}/{len(rows)} finished", style="dim"))


class PlainLineView:
    """`port: stage` lines, one per stage change, for logs and pipes; a summary line at the end."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._last: dict[str, tuple[Stage, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.stage, event.detail)
        with self._lock:
            if self._last.get(event.port) == key:
                return
            self._last[event.port] = key
            line = f"{event.port}: {stage_text(event.stage, event.detail)}"
            result = event.result
            if result is not None:
                line += f" imei={result.imei or '-'} elapsed={result.elapsed_s:.2f}s out={result.bytes_out}"
                line += f" in={result.bytes_in}"
                if result.error:
                    line += f" error={result.error}"
            print(line, file=self._stream, flush=True)

    def start(self) -> None:
        return None

    def stop(self, summary: BatchSummary | None) -> None:
        if summary is not None:
            with self._lock:
                print(f"summary: {summary.describe()}", file=self._stream, flush=True)


class JsonLinesView:
    """One JSON object per device, printed when the device finishes (schema: `DeviceResult.to_json`)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if event.result is None:
            return
        line = json.dumps(event.result.to_json(), sort_keys=False)
        with self._lock:
            print(line, file=self._stream, flush=True)

    def start(self) -> None:
        return None

    def stop(self, summary: BatchSummary | None) -> None:
        return None


def choose_view(*, json_output: bool, stream: IO[str] | None = None, title: str = "credwarden factory") -> BatchView:
    """JSON lines for `--json`, the live table on a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    if json_output:
        return JsonLinesView(out)
    if out.isatty():
        return LiveTableView(Console(file=out), title=title)
    return PlainLineView(out)
