"""Provisioning commands: `manifest schema`, `manifest check`, `plan`, `apply` (see README "Provisioning").

JSON documents (stable):
* `manifest check --json`: `{"ok": bool, "credentials": [{"sec_tag", "type", "source", "length", "sha256"}],
  "problems": [{"source", "reason"}]}`
* `plan --json`: `{"dialect", "in_sync", "counts": {...}, "actions": [{"sec_tag", "type", "type_name", "action",
  "reason"}], "keygen": [{"sec_tag", "decision": "skip"|"generate"|"at-apply", "reason"}]}` (`type`: integer
  %CMNG code)
* `apply --json`: `{"ok", "dry_run", "message", "device": {...}, "actions": [{"sec_tag", "type", "type_name",
  "action", "status", "reason"}], "warnings": [str], "commands", "nvm_operations", "interrupted"}`; keygen rows
  add `sha256`, `serial`, `file`. Batches print one JSON line per board instead (cli/factory_cmds.py).
Validation failures with `--json`: `{"ok": false, "problems": [...]}` and exit code 5.
Exit codes: `plan` and `apply --dry-run` exit 9 when changes are pending; Ctrl-C is 130 (with `--json`, the partial
report of what was done).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credwarden.cli import factory_cmds as fc
from credwarden.cli.context import CliContext, cli_context, open_device
from credwarden.cli.failures import cli_errors, interrupt_after, interrupted, validation_json
from credwarden.cli.output import (
    device_name,
    emit,
    escape,
    plural,
    print_json,
    progress,
    stderr_console,
    stdout_console,
    warn,
)
from credwarden.errors import ExitCode, UsageError, ValidationError

if TYPE_CHECKING:  # provision pulls in pydantic and cryptography: imported where used
    from rich.console import Console

    from credwarden.inventory.live import InventoryOpener
    from credwarden.provision.apply import ApplyReport
    from credwarden.provision.manifest import Manifest
    from credwarden.provision.plan import Plan
    from credwarden.provision.resolve import DesiredCredential

commands = typer.Typer(rich_markup_mode=None)
manifest_app = typer.Typer(
    rich_markup_mode=None, help="Provisioning manifests: JSON Schema, offline validation.", no_args_is_help=True
)
commands.add_typer(manifest_app, name="manifest", rich_help_panel="Provisioning")
PANEL = "Provisioning"

ManifestArg = Annotated[Path, typer.Argument(help="Manifest TOML file.", show_default=False)]
PruneOption = Annotated[
    bool, typer.Option("--prune", help="Delete user types on named sec_tags the manifest does not list.")
]

#: Style of every plan action and apply status (a test walks every value through the renderers).
ACTION_STYLE = {"skip": "green", "write": "yellow", "delete": "red", "unverifiable": "magenta", "keygen": "yellow"}
STATUS_STYLE = {
    "unchanged": "green",
    "written": "green",
    "deleted": "green",
    "generated": "green",
    "kept": "yellow",
    "planned": "yellow",
    "failed": "bold red",
    "blocked": "bold red",
}


def _credential_json(item: DesiredCredential) -> dict[str, Any]:
    from credwarden.creds.encoding import sha256_hex

    cred = item.credential
    return {
        "sec_tag": cred.sec_tag,
        "type": cred.type.cli_name,
        "source": cred.source,
        "length": len(cred.content),
        "sha256": sha256_hex(cred.content),
    }


def render_plan(result: Plan, console: Console) -> None:
    from rich.table import Table

    where = f" — {device_name(result.device.imei, result.device.port)}" if result.device else ""
    table = Table(title=escape(f"plan ({result.dialect}){where}"))
    table.add_column("sec_tag", justify="right", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("reason")
    for action in result.actions:
        style = ACTION_STYLE.get(action.action, "")
        table.add_row(
            str(action.sec_tag), action.to_json()["type_name"], f"[{style}]{action.action}[/]", escape(action.reason)
        )
    for row in result.keygen:
        style = "green" if row.decision == "skip" else "yellow"
        table.add_row(str(row.sec_tag), "keygen", f"[{style}]{row.decision}[/]", escape(row.reason))
    console.print(table)
    for note in result.notes:  # e.g. a store too large for one list: what could not be seen
        console.print(f"[yellow]note:[/] {escape(note)}")
    if result.in_sync:
        console.print("[green]the device already matches the manifest[/]")
    else:
        pending = len(result.changes) + sum(1 for row in result.keygen if row.decision != "skip")
        console.print(
            f"{plural(pending, 'change')} to make"
            + (f", {len(result.blocked)} entry(ies) cannot be verified" if result.blocked else "")
        )


def render_report(report: ApplyReport, console: Console) -> None:
    from rich.table import Table

    what = "dry run" if report.dry_run else "apply"
    table = Table(title=escape(f"{what} — {device_name(report.device.imei, report.device.port)}"))
    table.add_column("sec_tag", justify="right", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason")
    for result in report.results:
        data = result.to_json()
        status_style = STATUS_STYLE.get(result.status, "")
        table.add_row(
            str(data["sec_tag"]),
            data["type_name"],
            data["action"],
            f"[{status_style}]{result.status}[/]",
            escape(str(data["reason"])),
        )
    console.print(table)
    for text in report.warnings:
        console.print(f"[yellow]warning[/]: {escape(text)}")
    if report.ok:
        verdict = "[green]ok[/]"
    elif report.exit_code == ExitCode.CHANGES_PENDING:
        verdict = "[yellow]changes pending[/]"
    else:
        verdict = "[bold red]FAILED[/]"
    console.print(
        f"{verdict}: {escape(report.message or 'the device matches the manifest')} "
        f"({report.commands} AT commands, {report.nvm_operations} NVM operations)"
    )


def _default_out_dir(manifest: Path) -> Path:
    """Where certificates issued by `[[keygen]]` tables are kept when no --out-dir is given."""
    return manifest.parent / "issued"


def _load_validated(manifest: Path) -> Manifest:
    """Parse the manifest and run every check that needs no device, before the port is opened."""
    from credwarden.provision.manifest import load_manifest
    from credwarden.provision.resolve import resolve_manifest, uses_placeholders

    loaded = load_manifest(manifest)
    if not uses_placeholders(loaded):
        resolve_manifest(loaded)
    return loaded


# -- commands ----------------------------------------------------------------------------------------------------


@manifest_app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the manifest."""
    from credwarden.provision.manifest import manifest_json_schema

    print_json(manifest_json_schema())


@manifest_app.command("check")
def check_cmd(
    ctx: typer.Context,
    manifest: ManifestArg,
    imei: Annotated[str | None, typer.Option("--imei", help="Expand {imei} with this value.")] = None,
    uuid: Annotated[str | None, typer.Option("--uuid", help="Expand {uuid} with this value.")] = None,
) -> None:
    """Validate a manifest and every credential it names, without a device (exit 5 on any problem)."""
    from rich.table import Table

    from credwarden.provision.manifest import load_manifest
    from credwarden.provision.resolve import DeviceIdentity, resolve_manifest

    opts = cli_context(ctx)
    with cli_errors():
        try:
            desired = resolve_manifest(load_manifest(manifest), DeviceIdentity(imei=imei, uuid=uuid))
        except ValidationError as exc:
            if opts.json:
                raise validation_json(exc) from None
            raise
        if opts.json:
            print_json({"ok": True, "credentials": [_credential_json(d) for d in desired], "problems": []})
            return
        table = Table(title=escape(f"{manifest}: {plural(len(desired), 'credential')} valid"))
        for column in ("sec_tag", "type", "bytes", "source"):
            table.add_column(column)
        for item in desired:
            data = _credential_json(item)
            table.add_row(str(data["sec_tag"]), data["type"], str(data["length"]), escape(data["source"]))
        stdout_console().print(table)


@commands.command("plan", rich_help_panel=PANEL)
def plan_cmd(
    ctx: typer.Context, manifest: ManifestArg, prune: PruneOption = False, out_dir: fc.OutDirOption = None
) -> None:
    """Show what `apply` would change on the device (one list; nothing is written).

    Exit 0 in sync, 9 changes pending, 6 stored entries that cannot be verified."""
    from credwarden.provision.apply import plan

    opts = cli_context(ctx)
    with cli_errors():
        try:
            loaded = _load_validated(manifest)
            with open_device(opts) as dev, progress("reading the device"):
                result = plan(
                    dev, loaded, prune=prune, out_dir=out_dir or _default_out_dir(loaded.path), offline_checked=True
                )
        except ValidationError as exc:
            if opts.json:
                raise validation_json(exc) from None
            raise
        emit(result, opts.json, render_plan)
        if result.blocked:
            raise typer.Exit(int(ExitCode.VERIFICATION))
        if not result.in_sync:
            raise typer.Exit(int(ExitCode.CHANGES_PENDING))


@commands.command("apply", rich_help_panel=PANEL)
def apply_cmd(
    ctx: typer.Context,
    manifest: fc.OptionalManifestArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: read the device, write nothing.")] = False,
    prune: PruneOption = False,
    read_back: Annotated[
        bool,
        typer.Option(
            "--read-back",
            help="Also read root CAs and PSK identities back after writing them (a listed SHA-256 already proves "
            "them; placeholder-digest firmware is always read back).",
        ),
    ] = False,
    ports_glob: fc.PortsGlobOption = None,
    station: fc.StationOption = None,
    watch: fc.WatchOption = False,
    concurrency: fc.ConcurrencyOption = None,
    device_timeout: fc.DeviceTimeoutOption = None,
    detect_timeout: fc.DetectTimeoutOption = None,
    out_dir: fc.OutDirOption = None,
    nrfcloud_csv: fc.NrfCloudCsvOption = None,
    no_record: fc.NoRecordOption = False,
) -> None:
    """Make the device hold exactly what the manifest says; verify; exit 0 only if it does.

    Several --port, --ports GLOB, --station or --watch run a parallel batch (README "Factory line").
    """
    opts = cli_context(ctx)
    with cli_errors():
        if fc.is_batch(list(opts.ports), ports_glob, station, watch):
            if dry_run or prune:
                raise UsageError("--dry-run and --prune work on one device at a time; use `credwarden plan` per board")
            request = fc.BatchRequest(
                manifest=manifest,
                ports_glob=ports_glob,
                station_file=station,
                watch=watch,
                concurrency=concurrency,
                device_timeout=device_timeout,
                detect_timeout=detect_timeout,
                out_dir=out_dir,
                nrfcloud_csv=nrfcloud_csv,
                no_record=no_record,
                read_back=read_back,
            )
            fc.run_batch_command(opts, request)
            return
        if manifest is None:
            raise UsageError("give the MANIFEST to apply")
        run = _apply_single(
            opts, manifest, dry_run=dry_run, prune=prune, out_dir=out_dir, record=not no_record, read_back=read_back
        )
        report = run.report
        recorded = run.opener is None
        try:
            with interrupt_after():  # one Ctrl-C: what was done is shown whole and recorded, then exit 130
                emit(report, opts.json, render_report)
                if run.opener is not None:
                    _record(run, run.opener)
                    recorded = True
        except KeyboardInterrupt:  # (a second Ctrl-C stops at once)
            if not recorded:
                warn("interrupted: this run is not in the inventory")
            raise interrupted() from None
        if report.exit_code == ExitCode.INTERRUPTED or run.interrupted:
            raise interrupted()
        if report.exit_code != ExitCode.OK:
            raise typer.Exit(int(report.exit_code))


@dataclass(frozen=True)
class _SingleRun:
    report: ApplyReport
    manifest_path: Path
    opener: InventoryOpener | None = None  #: the inventory, opening while the device answered (None: no record)
    interrupted: bool = False  #: Ctrl-C after the apply had finished (while the session was closing): exit 130


def _apply_single(
    opts: CliContext,
    manifest: Path,
    *,
    dry_run: bool,
    prune: bool,
    out_dir: Path | None,
    record: bool,
    read_back: bool = False,
) -> _SingleRun:
    """Validate (before the port opens) and apply on one device; the report survives a Ctrl-C at any point after
    the apply started (it carries what was done). With `record`, the inventory opens meanwhile (`_record`)."""
    from credwarden.provision.apply import ApplyInterrupted, apply
    from credwarden.provision.keygen import prepare_keygen

    def observer(stage: str, info: object) -> None:
        if not opts.json and stderr_console().is_terminal and stage not in ("plan", "verify"):
            stderr_console().print(f"  {stage}", highlight=False)

    report: ApplyReport | None = None
    try:
        loaded = _load_validated(manifest)
        keygen = prepare_keygen(loaded, out_dir)
        opener = None
        if record and not dry_run:  # the inventory opens while the device answers
            from credwarden.inventory.live import InventoryOpener

            opener = InventoryOpener(opts.db)
        with open_device(opts) as dev:
            try:
                report = apply(
                    dev,
                    loaded,
                    dry_run=dry_run,
                    prune=prune,
                    observer=observer,
                    keygen=keygen,
                    offline_checked=True,
                    read_back=read_back,
                )
            except ApplyInterrupted as exc:
                report = exc.report
    except ValidationError as exc:
        if opts.json:
            raise validation_json(exc) from None
        raise
    except KeyboardInterrupt:
        if report is not None:  # the apply had finished; the session was closing
            return _SingleRun(report, loaded.path, opener, interrupted=True)
        if opts.json:  # before anything was changed
            print_json({"ok": False, "interrupted": True, "message": "interrupted before any change", "actions": []})
        raise
    return _SingleRun(report, loaded.path, opener)


def _record(run: _SingleRun, opener: InventoryOpener) -> None:
    """Record the run and the store it left in the inventory (after the session closed and the report was shown)."""
    from credwarden.inventory.live import record_apply_run

    report = run.report
    entries = list(report.final_entries) if report.final_entries is not None else None
    recorded = record_apply_run(report.device, report, entries, manifest_path=run.manifest_path, opener=opener)
    for text in recorded.warnings:
        warn(text)
