"""Factory-line CLI: the batch side of `credwarden apply` and `credwarden station-check`.

`credwarden apply MANIFEST` (cli/provision_cmds.py) hands over to `run_batch_command` when it is given more than
one `--port`, a `--ports GLOB`, a `--station FILE` or `--watch`. The option declarations live here so both
modules share them.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credwarden.cli.context import CliContext, cli_context
from credwarden.cli.failures import cli_errors
from credwarden.cli.output import print_json
from credwarden.errors import ExitCode, UsageError

if TYPE_CHECKING:  # the factory package pulls in pydantic: imported where used, not for `credwarden --help`
    from credwarden.factory.station import Station

commands = typer.Typer(rich_markup_mode=None)

PortsGlobOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ports",
        help="Glob of ports to provision in parallel, e.g. '/dev/serial/by-id/*Nordic*' (repeatable; quote it).",
        show_default=False,
    ),
]
StationOption = Annotated[
    Path | None,
    typer.Option(
        "--station",
        help="Station file (TOML): ports / glob, baud, manifest, inventory, concurrency, "
        "timeouts. Command-line options override it.",
        show_default=False,
    ),
]
WatchOption = Annotated[
    bool,
    typer.Option(
        "--watch", help="Keep waiting for boards matching --ports and provision each once per plug-in, until Ctrl-C."
    ),
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        max=256,
        help="Devices provisioned at the same time. [default: one per port, at most 32]",
        show_default=False,
    ),
]
DeviceTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--device-timeout", min=1.0, help="Seconds one device may take in total. [default: 180]", show_default=False
    ),
]
DetectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--detect-timeout",
        min=0.2,
        help="Seconds a port gets to answer before its row reads no_answer. [default: 5]",
        show_default=False,
    ),
]
OutDirOption = Annotated[
    Path | None,
    typer.Option(
        "--out-dir",
        help="Where certificates issued by [[keygen]] are kept, per IMEI (also how reruns recognise them).",
        show_default=False,
    ),
]
NrfCloudCsvOption = Annotated[
    Path | None,
    typer.Option(
        "--nrfcloud-csv",
        help="Append each device to this nRF Cloud onboarding CSV "
        '(<device id>,<subtype>,<tags>,<fw types>,"<cert PEM>").',
        show_default=False,
    ),
]
NoRecordOption = Annotated[bool, typer.Option("--no-record", help="Do not record the results in the inventory.")]


OptionalManifestArg = Annotated[
    Path | None,
    typer.Argument(
        help="Manifest TOML file (optional with --station when the station file names one).", show_default=False
    ),
]


def is_batch(ports: list[str] | None, ports_glob: list[str] | None, station: Path | None, watch: bool) -> bool:
    """True when `apply` must run as a batch: several ports, a glob, a station or watch mode."""
    return bool(station or ports_glob or watch or (ports and len(ports) > 1))


@dataclass(frozen=True)
class BatchRequest:
    """The batch options of `credwarden apply` (connection options come from the global ones)."""

    manifest: Path | None = None
    ports_glob: list[str] | None = None
    station_file: Path | None = None
    watch: bool = False
    concurrency: int | None = None
    device_timeout: float | None = None
    detect_timeout: float | None = None
    out_dir: Path | None = None
    nrfcloud_csv: Path | None = None
    no_record: bool = False
    read_back: bool = False


def build_station(opts: CliContext, request: BatchRequest) -> Station:
    """Station settings: the station file (if any), then the environment and command line on top (an option
    given on the command line or in its environment variable beats the file)."""
    from credwarden.factory.station import Station, load_station

    base = load_station(request.station_file) if request.station_file else Station()
    return base.with_overrides(
        manifest=request.manifest,
        ports=list(opts.ports) if opts.ports else None,
        glob=list(request.ports_glob) if request.ports_glob else None,
        watch=True if request.watch else None,
        baud=opts.baud if opts.given("baud") or not request.station_file else None,
        concurrency=request.concurrency,
        timeout=request.device_timeout,
        detect_timeout=request.detect_timeout,
        out_dir=request.out_dir,
        nrfcloud_csv=request.nrfcloud_csv,
        record=False if request.no_record else None,
        inventory=opts.db if opts.given("db") else None,
    )


def run_batch_command(opts: CliContext, request: BatchRequest) -> None:
    """Run the batch with the view that suits stdout and exit with the batch's exit code."""
    from credwarden.factory.batch import run_batch
    from credwarden.factory.job import DeviceJob
    from credwarden.factory.view import choose_view

    station = build_station(opts, request)
    if station.manifest is None:
        raise UsageError("no manifest: give MANIFEST or `manifest = ...` in the station file")
    job = DeviceJob.from_station(station, mode=opts.mode, flow_control=opts.flow_control, command_timeout=opts.timeout)
    job.read_back = request.read_back
    view = choose_view(json_output=opts.json, title=f"credwarden apply - station {station.name}")
    stop = threading.Event()
    previous = None
    if station.watch and threading.current_thread() is threading.main_thread():
        # SIGTERM (systemd, a supervisor) ends watch mode like Ctrl-C: boards in progress finish, then a summary
        previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    try:
        report = run_batch(station, view=view, job=job, stop=stop)
    finally:
        job.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if opts.json:  # the summary goes to stderr so stdout stays one JSON object per device
        print(json.dumps({"summary": report.summary.to_json(), "interrupted": report.interrupted}), file=sys.stderr)
    if report.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    raise typer.Exit(int(report.exit_code))


@commands.command("station-check", rich_help_panel="Provisioning")
def station_check(
    ctx: typer.Context,
    station_file: Annotated[Path, typer.Argument(help="Station file (TOML).", show_default=False)],
) -> None:
    """Validate a station file and list the ports it covers right now (nothing is sent)."""
    from credwarden.factory.ports import expand_ports
    from credwarden.factory.station import load_station

    opts = cli_context(ctx)
    with cli_errors():
        station = load_station(station_file)
        ports = expand_ports(station.ports, station.glob)
        data: dict[str, Any] = {
            "station": json.loads(station.model_dump_json()),
            "ports": ports,
            "concurrency": station.effective_concurrency(len(ports)),
        }
        if opts.json:
            print_json(data)
        else:
            _render_check(data, Console())
        if not ports and not station.watch:
            raise typer.Exit(int(ExitCode.NONE_REACHED))


def _render_check(data: dict[str, Any], console: Console) -> None:
    station = data["station"]
    table = Table(title=escape(f"station {station['name']}"), show_header=False)
    for key in (
        "manifest",
        "inventory",
        "record",
        "baud",
        "timeout",
        "detect_timeout",
        "out_dir",
        "nrfcloud_csv",
        "watch",
    ):
        table.add_row(key, str(station[key]))
    table.add_row("glob", ", ".join(station["glob"]) or "-")
    table.add_row("concurrency", str(data["concurrency"]))
    table.add_row("ports now", "\n".join(data["ports"]) or "(none)")
    console.print(table)
