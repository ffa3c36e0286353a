"""`credwarden sim`: serve the simulated modem on a pty or TCP; `credwarden sim report LOG` summarises its log.

`sim` is a typer group (`sim_app`); without a subcommand it serves. Other modules add subcommands to it
(`sim campaign`).

Latencies: realistic by default (`credwarden.sim.Timing`), each settable in milliseconds by one option per key of
`credwarden.sim.config.TIMING_OPTIONS` (`--turnaround-ms`, `--nvm-write-ms`, ...: the options are generated from
that list); `--fast` turns them all off. `SimConfig.from_options` checks them, as it does for `sim://` URLs.

Serving prints exactly one line first: the device path (`--pty`, default) or `socket://HOST:PORT` (`--tcp`),
flushed, then serves until SIGINT/SIGTERM (exit 0, state saved). With `--json`, a JSON document
`{"port", "profile", "frontend", "identity": {"imei", "device_uuid", "iccid", "imsi"}, "summary": {...}}` follows on
stdout when it stops.

JSON schema of `sim report --json` (stable): {"log", "commands", "by_kind": {kind: count}, "bytes_in",
"bytes_out", "baud", "wire_time_s" (null without a baud), "processing_s", "session_wall_s", "nvm_writes",
"results_lost"}.
"""

from __future__ import annotations

import inspect
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credwarden.cli.context import cli_context
from credwarden.cli.failures import cli_errors
from credwarden.cli.output import emit, escape, fail
from credwarden.errors import ExitCode, UsageError
from credwarden.sim.config import TIMING_OPTIONS

if TYPE_CHECKING:
    from rich.console import Console

sim_app = typer.Typer(
    rich_markup_mode=None,
    name="sim",
    help="Run the simulated nRF91 modem (pty or TCP), or work with its logs.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:5555), got {value!r}")
    return host or "127.0.0.1", int(port)


def _option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _with_latency_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one `--<key>` option per latency of `TIMING_OPTIONS` (received in its `**latency_ms`)."""
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for key, option in TIMING_OPTIONS.items():
        annotation = Annotated[float | None, typer.Option(_option_name(key), min=0.0, help=option.help())]
        parameters.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    setattr(command, "__signature__", signature.replace(parameters=parameters))  # noqa: B010
    return command


@sim_app.callback()
@_with_latency_options
def serve(
    ctx: typer.Context,
    state: Annotated[Path | None, typer.Option("--state", help="NVM state file (JSON), kept across restarts.")] = None,
    pty: Annotated[bool, typer.Option("--pty", help="Serve on a new pseudo-terminal (default).")] = False,
    tcp: Annotated[str | None, typer.Option("--tcp", metavar="HOST:PORT", help="Serve TCP (port 0: any).")] = None,
    frontend: Annotated[str, typer.Option("--frontend", help="at_client, shell or slm.")] = "at_client",
    profile: Annotated[str, typer.Option("--profile", help="Modem firmware: 1.0.3, 1.3.5, 2.0.2, ...")] = "1.3.5",
    imei: Annotated[
        str | None,
        typer.Option(
            "--imei",
            help="15-digit IMEI with a valid check digit (default: the state file's own identity, generated "
            "when the file is created; without --state a fixed one).",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="AT+CGMM answer.")] = None,
    firmware: Annotated[str | None, typer.Option("--firmware", help="AT+CGMR answer.")] = None,
    device_uuid: Annotated[
        str | None, typer.Option("--device-uuid", help="Device UUID (%DEVICEUUID, KEYGEN CN).")
    ] = None,
    baud: Annotated[int | None, typer.Option("--baud", min=300, help="Throttle both directions to N baud.")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="No simulated latencies.")] = False,
    log: Annotated[Path | None, typer.Option("--log", help="JSON-lines command log (secrets redacted).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random decision.")] = 0,
    boot_cfun: Annotated[int, typer.Option("--boot-cfun", help="CFUN after (re)boot.")] = 4,
    termination: Annotated[str | None, typer.Option("--termination", help="cr, lf, crlf or null.")] = None,
    reject_crlf: Annotated[bool, typer.Option("--reject-crlf", help="2.0.2+: CRLF certificates → 527.")] = False,
    keygen_null_param: Annotated[
        bool,
        typer.Option(
            "--keygen-null-param/--no-keygen-null-param",
            help="KEYGEN CSR with the NULL parameter in ecdsa-with-SHA256, like real modems (default); "
            "--no-keygen-null-param gives the RFC 5758 form.",
        ),
    ] = True,
    max_entries: Annotated[int, typer.Option("--max-entries", min=1, help="Entries before CME 515.")] = 64,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1, help="Content bytes before CME 515.")] = 65536,
    power_cut_after: Annotated[
        int | None, typer.Option("--power-cut-after", min=0, help="Fault: cut power after N bytes of the next write.")
    ] = None,
    hang_above: Annotated[
        int | None, typer.Option("--hang-above", min=0, help="Fault: writes larger than N bytes never answer.")
    ] = None,
    hang_stores: Annotated[bool, typer.Option("--hang-stores", help="Fault: a hanging write still stores.")] = False,
    wipe_tag: Annotated[int | None, typer.Option("--wipe-tag", min=0, help="Fault: sec_tag to wipe silently.")] = None,
    wipe_after: Annotated[int, typer.Option("--wipe-after", min=0, help="... after K NVM writes to other tags.")] = 0,
    lose_results: Annotated[
        int, typer.Option("--lose-results", min=0, help="Fault: the next N final result codes are never sent.")
    ] = 0,
    lose_probability: Annotated[
        float, typer.Option("--lose-probability", min=0.0, max=1.0, help="Fault: probability to lose a result.")
    ] = 0.0,
    urc_probability: Annotated[
        float, typer.Option("--urc-probability", min=0.0, max=1.0, help="Fault: probability of injected URCs.")
    ] = 0.0,
    pofwarn: Annotated[bool, typer.Option("--pofwarn", help="Fault: power-off warning latched at start.")] = False,
    report_mqtt: Annotated[
        str | None,
        typer.Option("--report-mqtt", help="Act as a field device: publish CW/1 reports of the store to this broker."),
    ] = None,
    report_interval: Annotated[
        float, typer.Option("--report-interval", min=0.05, help="Seconds between reports.")
    ] = 60.0,
    report_tls_tag: Annotated[
        list[int] | None,
        typer.Option("--report-tls-tag", help="sec_tag the simulated application connects with (TLS errors)."),
    ] = None,
    **latency_ms: float | None,
) -> None:
    """Serve the simulated modem until interrupted; the first stdout line is the port to open."""
    if ctx.invoked_subcommand is not None:
        return
    with cli_errors():
        from credwarden.sim import SimConfig, SimModem

        if pty and tcp:
            raise fail("--pty and --tcp are mutually exclusive", ExitCode.USAGE)
        overrides: dict[str, Any] = {}
        for key, value in (("imei", imei), ("device_uuid", device_uuid), ("termination", termination)):
            if value is not None:
                overrides[key] = value
        try:
            address = _parse_tcp(tcp) if tcp else None
            config = SimConfig.from_options(
                {"fast": fast or None, **latency_ms},
                spell=_option_name,
                profile=profile,
                frontend=frontend,
                state_file=state,
                baud=baud,
                log_file=log,
                seed=seed,
                model=model,
                firmware=firmware,
                boot_cfun=boot_cfun,
                reject_crlf_certificates=reject_crlf,
                keygen_null_param_defect=keygen_null_param,
                max_entries=max_entries,
                max_total_bytes=max_bytes,
                **overrides,
            )
            sim = SimModem(config)
        except ValueError as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
        faults = sim.faults
        faults.power_cut_after, faults.hang_above, faults.hang_stores = power_cut_after, hang_above, hang_stores
        faults.wipe_tag, faults.wipe_after = wipe_tag, wipe_after
        faults.lose_results, faults.lose_probability = lose_results, lose_probability
        faults.urc_probability, faults.pofwarn = urc_probability, pofwarn
        reporter = None
        if report_mqtt is not None:
            from credwarden.collect.broker import BrokerConfig
            from credwarden.sim.field_reporter import FieldReporter

            try:  # the broker's login and TLS files from the environment, checked as `collect` checks them
                broker = BrokerConfig.from_url(report_mqtt, option="--report-mqtt")
                reporter = FieldReporter(
                    sim,
                    report_mqtt,
                    interval_s=report_interval,
                    tls_tags=report_tls_tag or (),
                    login=(broker.username, broker.password) if broker.username is not None else None,
                    tls_context=broker.tls_context() if broker.tls else None,
                )
            except (ValueError, UsageError) as exc:
                raise fail(str(exc), ExitCode.USAGE) from None
        _serve_until_signal(sim, address, cli_context(ctx).json, reporter)


def _serve_until_signal(sim: Any, address: tuple[str, int] | None, json_out: bool, reporter: Any = None) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serving = sim.serve_tcp(*address) if address else sim.serve_pty()
        with serving as port:
            sys.stdout.write(port + "\n")
            sys.stdout.flush()
            if reporter is not None:
                reporter.start()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if reporter is not None:
            reporter.stop()
        sim.stop()
    if json_out:
        document = {
            "port": port,
            "profile": sim.profile_name,
            "frontend": sim.config.frontend,
            "identity": sim.identity.to_json(),
            "summary": sim.accounting.summary(sim.config.baud),
        }
        if reporter is not None:
            document["reports_published"] = reporter.published
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()


def _render_report(summary: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(title=escape(f"simulator log {summary['log']}"), show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    wire = summary["wire_time_s"]
    rows = [
        ("commands", str(summary["commands"])),
        ("bytes in / out", f"{summary['bytes_in']} / {summary['bytes_out']}"),
        ("baud", str(summary["baud"] or "-")),
        ("wire time bound (bytes×10/baud)", f"{wire:.3f} s" if wire is not None else "- (no baud)"),
        ("modem processing time", f"{summary['processing_s']:.3f} s"),
        ("session wall time", f"{summary['session_wall_s']:.3f} s"),
        ("NVM writes", str(summary["nvm_writes"])),
        ("final results lost", str(summary["results_lost"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    kinds = Table(title="commands by kind")
    kinds.add_column("kind")
    kinds.add_column("count", justify="right")
    for kind, count in summary["by_kind"].items():
        kinds.add_row(kind, str(count))
    console.print(kinds)


@sim_app.command("report")
def report_cmd(
    ctx: typer.Context,
    log: Annotated[Path, typer.Argument(help="JSON-lines log written by `credwarden sim --log FILE`.")],
    baud: Annotated[int | None, typer.Option("--baud", min=300, help="Baud for the wire time (default: logged).")] = (
        None
    ),
) -> None:
    """Summarise a simulator command log: commands, bytes, wire-time bound, processing time, NVM writes."""
    with cli_errors():
        from credwarden.sim.accounting import read_log, summarise

        try:
            records = read_log(log)
        except OSError as exc:
            raise fail(f"{log}: {exc.strerror or exc}", ExitCode.USAGE) from None
        except ValueError as exc:
            raise fail(str(exc), ExitCode.VALIDATION) from None
        summary = {"log": str(log), **summarise(records, baud=baud)}
        emit(summary, cli_context(ctx).json, _render_report)


commands = typer.Typer(rich_markup_mode=None)
commands.add_typer(sim_app, name="sim", rich_help_panel="Simulator")
