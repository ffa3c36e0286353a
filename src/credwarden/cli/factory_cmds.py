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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from credwarden.errors import ExitCode

if TYPE_CHECKING:  # the factory package pulls in pydantic: imported where used, not for `credwarden --help`
    from credwarden.factory.station import Station

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
InventoryOption = Annotated[
    str | None,
    typer.Option(
        "--inventory", envvar="CREDWARDEN_DB", help="Inventory database URL or SQLite path.", show_default=False
    ),
]


MultiPortOption = Annotated[
    list[str] | None,
    typer.Option(
        "--port",
        "-p",
        envvar="CREDWARDEN_PORT",
        help="Device path (/dev/ttyACM0, a pty, /dev/serial/by-id/...), pyserial URL (socket://host:port, "
        "rfc2217://, loop://), sim://[STATE][?profile=..&frontend=..], or auto. Repeat it to provision several "
        "boards in parallel. [default: auto]",
        show_default=False,
    ),
]
OptionalManifestArg = Annotated[
    Path | None,
    typer.Argument(
        help="Manifest TOML file (optional with --station when the station file names one).", show_default=False
    ),
]


def is_batch(
    ports: list[str] | None,
    ports_glob: list[str] | None,
    station: Path | None,
    watch: bool,
    manifest: Path | None = None,
) -> bool:
    """True when `apply` must run as a batch: several ports, a glob, a station or watch mode."""
    return bool(station or ports_glob or watch or (ports and len(ports) > 1))


def batch_apply(
    ctx: typer.Context,
    *,
    manifest: Path | None,
    ports: list[str] | None,
    ports_glob: list[str] | None,
    station_file: Path | None,
    watch: bool,
    dry_run: bool,
    prune: bool,
    baud: int | None,
    mode: str | None,
    flow_control: bool | None,
    json_out: bool,
    debug: bool,
    concurrency: int | None,
    timeout: float | None = None,
    device_timeout: float | None,
    detect_timeout: float | None,
    out_dir: Path | None,
    nrfcloud_csv: Path | None,
    no_record: bool,
    inventory: str | None,
) -> None:
    """The batch form of `credwarden apply` (called by cli/provision_cmds.py); exits with the batch's code."""
    from credwarden.cli.common import connection_options
    from credwarden.errors import UsageError

    if dry_run or prune:
        raise UsageError("--dry-run and --prune work on one device at a time; use `credwarden plan` per board")
    opts = connection_options(
        ctx, baud=baud, mode=mode, flow_control=flow_control, timeout=timeout, debug=debug, json_out=json_out
    )
    station = build_station(
        manifest=manifest,
        ports=ports,
        ports_glob=ports_glob,
        station_file=station_file,
        watch=watch,
        baud=baud if baud is not None else (None if station_file else opts.baud),
        concurrency=concurrency,
        device_timeout=device_timeout,
        detect_timeout=detect_timeout,
        out_dir=out_dir,
        nrfcloud_csv=nrfcloud_csv,
        no_record=no_record,
        inventory=inventory,
    )
    run_batch_command(
        station, json_out=opts.json, mode=opts.mode, flow_control=opts.flow_control, command_timeout=opts.timeout
    )


def build_station(
    *,
    manifest: Path | None,
    ports: list[str] | None = None,
    ports_glob: list[str] | None = None,
    station_file: Path | None = None,
    watch: bool = False,
    baud: int | None = None,
    concurrency: int | None = None,
    device_timeout: float | None = None,
    detect_timeout: float | None = None,
    out_dir: Path | None = None,
    nrfcloud_csv: Path | None = None,
    no_record: bool = False,
    inventory: str | None = None,
) -> Station:
    """Station settings: the station file (if any) with the command-line options on top."""
    from credwarden.factory.station import Station, load_station

    base = load_station(station_file) if station_file else Station()
    return base.with_overrides(
        manifest=manifest,
        ports=list(ports) if ports else None,
        glob=list(ports_glob) if ports_glob else None,
        watch=True if watch else None,
        baud=baud,
        concurrency=concurrency,
        timeout=device_timeout,
        detect_timeout=detect_timeout,
        out_dir=out_dir,
        nrfcloud_csv=nrfcloud_csv,
        record=False if no_record else None,
        inventory=inventory,
    )


def run_batch_command(
    station: Station,
    *,
    json_out: bool,
    mode: str = "auto",
    flow_control: bool = False,
    command_timeout: float | None = None,
) -> None:
    """Run the batch with the view that suits stdout and exit with the batch's exit code."""
    from credwarden.errors import UsageError
    from credwarden.factory.batch import run_batch
    from credwarden.factory.job import DeviceJob
    from credwarden.factory.view import choose_view

    if station.manifest is None:
        raise UsageError("no manifest: give MANIFEST or `manifest = ...` in the station file")
    job = DeviceJob.from_station(station, mode=mode, flow_control=flow_control, command_timeout=command_timeout)
    view = choose_view(json_output=json_out, title=f"credwarden apply - station {station.name}")
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
    if json_out:  # the summary goes to stderr so stdout stays one JSON object per device
        print(json.dumps({"summary": report.summary.to_json()}), file=sys.stderr)
    raise typer.Exit(int(report.exit_code))


def register(app: typer.Typer) -> None:
    """Add `station-check` to the app."""

    @app.command("station-check")
    def station_check(
        station_file: Annotated[Path, typer.Argument(help="Station file (TOML).", show_default=False)],
        json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Validate a station file and list the ports it covers right now (nothing is sent)."""
        from credwarden.cli.common import cli_errors
        from credwarden.factory.ports import expand_ports
        from credwarden.factory.station import load_station

        with cli_errors():
            station = load_station(station_file)
            ports = expand_ports(station.ports, station.glob)
            data: dict[str, Any] = {
                "station": json.loads(station.model_dump_json()),
                "ports": ports,
                "concurrency": station.effective_concurrency(len(ports)),
            }
            if json_out:
                print(json.dumps(data, indent=2))
            else:
                _render_check(data, Console())
            if not ports and not station.watch:
                raise typer.Exit(int(ExitCode.NONE_REACHED))


def _render_check(data: dict[str, Any], console: Console) -> None:
    station = data["station"]
    table = Table(title=f"station {station['name']}", show_header=False)
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
