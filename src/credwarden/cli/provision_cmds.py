"""Provisioning commands: `manifest schema`, `manifest check`, `plan`, `apply` (see README "Provisioning").

JSON documents (stable):
* `manifest check --json`: `{"ok": bool, "credentials": [{"sec_tag", "type", "source", "length", "sha256"}],
  "problems": [{"source", "reason"}]}`
* `plan --json`: `{"dialect", "in_sync", "counts": {...}, "actions": [{"sec_tag", "type", "type_name", "action",
  "reason"}], "keygen": [{"sec_tag", "decision": "skip"|"generate"|"at-apply", "reason"}]}` (`type`: integer
  %CMNG code)
* `apply --json`: `{"ok", "dry_run", "message", "device": {...}, "actions": [{"sec_tag", "type", "type_name",
  "action", "status", "reason"}], "warnings": [str], "commands", "nvm_operations"}`. The same object for one
  board whose manifest has `[[keygen]]` tables (run by the factory job; keygen actions use `action` "keygen" with
  status "generated", "commands" is null there); batches print one JSON line per board instead.
Validation failures with `--json`: `{"ok": false, "problems": [...]}` and exit code 5.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from credwarden.cli import factory_cmds as fc
from credwarden.cli.common import (
    BaudOption,
    DebugOption,
    FlowControlOption,
    JsonOption,
    ModeOption,
    PortOption,
    TimeoutOption,
    cli_errors,
    connection_options,
    emit,
    open_device,
    progress,
    stderr_console,
)
from credwarden.creds.encoding import sha256_hex
from credwarden.errors import ExitCode, UsageError, ValidationError

if TYPE_CHECKING:  # provision pulls in pydantic and cryptography, factory pydantic: imported where used
    from credwarden.provision.apply import ApplyReport
    from credwarden.provision.plan import Plan
    from credwarden.provision.resolve import DesiredCredential

ManifestArg = Annotated[Path, typer.Argument(help="Manifest TOML file.", show_default=False)]
PruneOption = Annotated[
    bool, typer.Option("--prune", help="Delete user types on named sec_tags the manifest does not list.")
]

_STYLE = {"skip": "green", "write": "yellow", "delete": "red", "unverifiable": "magenta"}
_STATUS_STYLE = {
    "unchanged": "green",
    "written": "green",
    "deleted": "green",
    "kept": "yellow",
    "planned": "yellow",
    "failed": "bold red",
    "blocked": "bold red",
    "generated": "green",
}


def _problems(exc: ValidationError) -> list[dict[str, str | None]]:
    from credwarden.provision.manifest import ManifestError

    items = exc.problems if isinstance(exc, ManifestError) else [exc]
    return [{"source": p.source, "reason": p.reason} for p in items]


def _validation_json(exc: ValidationError) -> typer.Exit:
    sys.stdout.write(json.dumps({"ok": False, "problems": _problems(exc)}, indent=2) + "\n")
    return typer.Exit(int(ExitCode.VALIDATION))


def _credential_json(item: DesiredCredential) -> dict[str, Any]:
    cred = item.credential
    return {
        "sec_tag": cred.sec_tag,
        "type": cred.type.cli_name,
        "source": cred.source,
        "length": len(cred.content),
        "sha256": sha256_hex(cred.content),
    }


def render_plan(result: Plan, console: Console) -> None:
    table = Table(title=f"plan ({result.dialect})")
    for column in ("sec_tag", "type", "action", "reason"):
        table.add_column(column, justify="right" if column == "sec_tag" else "left")
    for action in result.actions:
        style = _STYLE.get(action.action, "")
        table.add_row(str(action.sec_tag), action.to_json()["type_name"], f"[{style}]{action.action}[/]", action.reason)
    for row in result.keygen:
        style = "green" if row.decision == "skip" else "yellow"
        table.add_row(str(row.sec_tag), "keygen", f"[{style}]{row.decision}[/]", row.reason)
    console.print(table)
    if result.in_sync:
        console.print("[green]the device already matches the manifest[/]")
    else:
        console.print(
            f"{len(result.changes)} change(s) to make"
            + (f", {len(result.blocked)} entry(ies) cannot be verified" if result.blocked else "")
        )


def _default_out_dir(manifest: Path) -> Path:
    """Where the factory job keeps issued certificates when no --out-dir is given (see factory.job)."""
    return manifest.parent / "issued"


def render_report(report: ApplyReport, console: Console) -> None:
    table = Table(
        title=("dry run" if report.dry_run else "apply") + f" on {report.device.port or '-'} "
        f"(IMEI {report.device.imei or '-'})"
    )
    for column in ("sec_tag", "type", "action", "status", "reason"):
        table.add_column(column, justify="right" if column == "sec_tag" else "left")
    for result in report.results:
        data = result.to_json()
        status_style = _STATUS_STYLE.get(result.status, "")
        table.add_row(
            str(data["sec_tag"]),
            data["type_name"],
            data["action"],
            f"[{status_style}]{result.status}[/]",
            data["reason"],
        )
    console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/]: {warning}")
    verdict = "[green]ok[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(
        f"{verdict}: {report.message or 'the device matches the manifest'} "
        f"({report.commands} AT commands, {report.nvm_operations} NVM operations)"
    )


def register(app: typer.Typer) -> None:
    """Add `manifest`, `plan` and `apply` to `app`."""
    manifest_app = typer.Typer(help="Provisioning manifests: JSON Schema, offline validation.", no_args_is_help=True)
    app.add_typer(manifest_app, name="manifest")

    @manifest_app.command("schema")
    def schema_cmd() -> None:
        """Print the JSON Schema of the manifest."""
        from credwarden.provision.manifest import manifest_json_schema

        sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")

    @manifest_app.command("check")
    def check_cmd(
        manifest: ManifestArg,
        imei: Annotated[str | None, typer.Option("--imei", help="Expand {imei} with this value.")] = None,
        uuid: Annotated[str | None, typer.Option("--uuid", help="Expand {uuid} with this value.")] = None,
        json_out: JsonOption = False,
    ) -> None:
        """Validate a manifest and every credential it names, without a device (exit 5 on any problem)."""
        from credwarden.provision.manifest import load_manifest
        from credwarden.provision.resolve import DeviceIdentity, resolve_manifest

        with cli_errors():
            try:
                desired = resolve_manifest(load_manifest(manifest), DeviceIdentity(imei=imei, uuid=uuid))
            except ValidationError as exc:
                if json_out:
                    raise _validation_json(exc) from None
                raise
            if json_out:
                sys.stdout.write(
                    json.dumps(
                        {"ok": True, "credentials": [_credential_json(d) for d in desired], "problems": []}, indent=2
                    )
                    + "\n"
                )
                return
            table = Table(title=f"{manifest}: {len(desired)} credential(s) valid")
            for column in ("sec_tag", "type", "bytes", "source"):
                table.add_column(column)
            for item in desired:
                data = _credential_json(item)
                table.add_row(str(data["sec_tag"]), data["type"], str(data["length"]), data["source"])
            Console().print(table)

    @app.command("plan")
    def plan_cmd(
        ctx: typer.Context,
        manifest: ManifestArg,
        prune: PruneOption = False,
        port: PortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
        out_dir: fc.OutDirOption = None,
    ) -> None:
        """Show what `apply` would change on the device (one list; nothing is written)."""
        from credwarden.provision.apply import plan
        from credwarden.provision.manifest import load_manifest

        with cli_errors():
            opts = connection_options(
                ctx,
                port=port,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )
            try:
                loaded = load_manifest(manifest)
                with open_device(opts) as dev, progress("reading the device"):
                    result = plan(dev, loaded, prune=prune, out_dir=out_dir or _default_out_dir(loaded.path))
            except ValidationError as exc:
                if opts.json:
                    raise _validation_json(exc) from None
                raise
            emit(result, opts.json, render_plan)
            if result.blocked:
                raise typer.Exit(int(ExitCode.VERIFICATION))
            if not result.in_sync:
                raise typer.Exit(int(ExitCode.CHANGES_PENDING))

    @app.command("apply")
    def apply_cmd(
        ctx: typer.Context,
        manifest: fc.OptionalManifestArg = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: read the device, write nothing.")] = False,
        prune: PruneOption = False,
        port: fc.MultiPortOption = None,
        baud: BaudOption = None,
        mode: ModeOption = None,
        flow_control: FlowControlOption = None,
        timeout: TimeoutOption = None,
        json_out: JsonOption = False,
        debug: DebugOption = False,
        ports_glob: fc.PortsGlobOption = None,
        station: fc.StationOption = None,
        watch: fc.WatchOption = False,
        concurrency: fc.ConcurrencyOption = None,
        device_timeout: fc.DeviceTimeoutOption = None,
        detect_timeout: fc.DetectTimeoutOption = None,
        out_dir: fc.OutDirOption = None,
        nrfcloud_csv: fc.NrfCloudCsvOption = None,
        no_record: fc.NoRecordOption = False,
        inventory: fc.InventoryOption = None,
    ) -> None:
        """Make the device hold exactly what the manifest says; verify; exit 0 only if it does.

        Several --port, --ports GLOB, --station or --watch run a parallel batch (README "Factory line").
        """
        with cli_errors():
            if fc.is_batch(port, ports_glob, station, watch, manifest):
                fc.batch_apply(
                    ctx,
                    manifest=manifest,
                    ports=port,
                    ports_glob=ports_glob,
                    station_file=station,
                    watch=watch,
                    dry_run=dry_run,
                    prune=prune,
                    baud=baud,
                    mode=mode,
                    flow_control=flow_control,
                    json_out=json_out,
                    debug=debug,
                    timeout=timeout,
                    concurrency=concurrency,
                    device_timeout=device_timeout,
                    detect_timeout=detect_timeout,
                    out_dir=out_dir,
                    nrfcloud_csv=nrfcloud_csv,
                    no_record=no_record,
                    inventory=inventory,
                )
                return
            if manifest is None:
                raise UsageError("give the MANIFEST to apply")
            opts = connection_options(
                ctx,
                port=port[0] if port else None,
                baud=baud,
                mode=mode,
                flow_control=flow_control,
                timeout=timeout,
                debug=debug,
                json_out=json_out,
            )

            def observer(stage: str, info: object) -> None:
                if not opts.json and stderr_console.is_terminal and stage not in ("plan", "verify"):
                    stderr_console.print(f"  {stage}", highlight=False)

            from credwarden.provision.apply import apply
            from credwarden.provision.keygen import prepare_keygen
            from credwarden.provision.manifest import load_manifest

            try:
                loaded = load_manifest(manifest)
                keygen = prepare_keygen(loaded, out_dir)
                with open_device(opts) as dev:
                    report = apply(dev, loaded, dry_run=dry_run, prune=prune, observer=observer, keygen=keygen)
                    if not dry_run and not no_record:
                        from credwarden.inventory.live import list_after_apply, record_apply_run

                        record_apply_run(
                            report.device, report, list_after_apply(dev), db=inventory, manifest_path=loaded.path
                        )
            except ValidationError as exc:
                if opts.json:
                    raise _validation_json(exc) from None
                raise
            emit(report, opts.json, render_report)
            if report.exit_code != ExitCode.OK:
                raise typer.Exit(int(report.exit_code))
