"""Fleet inventory commands: `credwarden inventory devices|show|history|diff|drift|export|import|forget|prune`,
and `audit`.

Every command takes `--db PATH-or-URL` (else `CREDWARDEN_DB`, else the per-user SQLite file) and `--json`.
`drift` exits 6 (verification) when some device drifted, so it can gate a cron job or a pipeline.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credwarden.cli.context import cli_context, open_device
from credwarden.cli.failures import cli_errors
from credwarden.cli.output import emit, plural, short_digest, stderr_console
from credwarden.errors import ExitCode, UsageError, ValidationError
from credwarden.types import type_name

if TYPE_CHECKING:  # the inventory modules load when their command runs (fast --help)
    from rich.console import Console
    from rich.table import Table

    from credwarden.inventory.audit import AuditResult
    from credwarden.inventory.drift import DriftReport, ExpectedSlot
    from credwarden.inventory.importer import ParsedCapture, Unreadable
    from credwarden.inventory.maintenance import ForgetResult, PruneResult
    from credwarden.inventory.store import Inventory
    from credwarden.inventory.views import (
        ApplyRunView,
        DeviceSummary,
        HistoryItem,
        SnapshotDiff,
        SnapshotView,
    )

DeviceArg = Annotated[str, typer.Argument(help="IMEI, UUID, or a unique prefix of either.")]
DaysOption = Annotated[int, typer.Option("--days", min=0, help="Report certificates expiring within N days.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Only count what would be removed; change nothing.")]
#: Most unreadable lines listed in the human output (JSON lists all).
SHOW_UNREADABLE = 20


def _short(sha: str | None) -> str:
    return short_digest(sha)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat().replace("+00:00", "Z")


#: Below this console width tables drop or shorten long columns; identifiers (IMEI, sec_tag) are never cut.
WIDE = 120
#: The devices table shows the 36-character UUID only from this width on (it is always in --json / export).
UUID_WIDE = 150
IMEI_WIDTH = 15
TAG_WIDTH = 10


def _wide(console: Console) -> bool:
    return console.width >= WIDE


def _when_short(value: datetime | None, console: Console) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` on wide consoles, `YYYY-MM-DD HH:MM` (UTC) when narrow; --json keeps full precision."""
    if value is None:
        return "-"
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ" if _wide(console) else "%Y-%m-%d %H:%M")


def _time_column(table: Table, name: str, console: Console) -> None:

    table.add_column(name, no_wrap=True, min_width=20 if _wide(console) else 16)


def _imei_column(table: Table) -> None:

    table.add_column("IMEI", no_wrap=True, min_width=IMEI_WIDTH)


def _tag_column(table: Table) -> None:

    table.add_column("sec_tag", justify="right", no_wrap=True, min_width=TAG_WIDTH)


# -- renderers ---------------------------------------------------------------------------------------------------


def render_devices(devices: list[DeviceSummary], console: Console) -> None:
    from rich.table import Table

    if not devices:
        console.print("the inventory holds no devices yet")
        return
    wide = console.width >= UUID_WIDE
    table = Table()
    _imei_column(table)
    if wide:  # a UUID is 36 characters: in `--json` and `export` when the console is narrower
        table.add_column("UUID", no_wrap=True)
    with_model = _wide(console)  # narrow: the firmware name already tells the chip (mfw_nrf9160_...)
    if with_model:
        table.add_column("model", overflow="fold")
    table.add_column("firmware", overflow="fold")
    table.add_column("snapshots" if with_model else "snaps", justify="right", no_wrap=True)
    table.add_column("entries", justify="right", no_wrap=True)
    _time_column(table, "last seen", console)
    for d in devices:
        row = [
            d.imei,
            *([d.uuid or "-"] if wide else []),
            *([d.model or "-"] if with_model else []),
            d.firmware or "-",
            str(d.snapshots),
            str(d.latest_entries),
            _when_short(d.last_seen, console),
        ]
        table.add_row(*row)
    console.print(table)


def render_snapshot(view: SnapshotView, console: Console) -> None:
    from rich.table import Table

    console.print(
        f"device {view.imei}  snapshot {view.id}  taken {_when(view.taken_at)}  source {view.source}  "
        f"station {view.station or '-'}  host {view.host or '-'}  firmware {view.firmware or '-'}",
        highlight=False,
        markup=False,
    )
    table = Table()
    _tag_column(table)
    table.add_column("type", overflow="fold", min_width=8)
    table.add_column("sha256", no_wrap=True)
    _time_column(table, "not after", console)
    for e in view.entries:
        digest = _short(e.sha256)
        if e.placeholder:
            digest += " (placeholder)"
        table.add_row(str(e.sec_tag), f"{e.type} {type_name(e.type)}", digest, _when_short(e.not_after, console))
    console.print(table)


class HistoryResult:
    """`history` output: snapshots and apply runs of one device."""

    def __init__(self, imei: str, snapshots: list[HistoryItem], runs: list[ApplyRunView]) -> None:
        self.imei, self.snapshots, self.runs = imei, snapshots, runs

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "snapshots": [s.to_json() for s in self.snapshots],
            "apply_runs": [r.to_json() for r in self.runs],
        }


def render_history(result: HistoryResult, console: Console) -> None:
    from rich.table import Table

    table = Table()
    _time_column(table, "when", console)
    for name in ("kind", "id", "source / result", "station", "entries"):
        table.add_column(name, overflow="fold")
    for name in ("+", "-", "~"):
        table.add_column(name, justify="right", no_wrap=True)
    rows: list[tuple[datetime, list[str]]] = []
    for s in result.snapshots:
        rows.append(
            (
                s.taken_at,
                [
                    _when_short(s.taken_at, console),
                    "snapshot",
                    str(s.id),
                    s.source,
                    s.station or "-",
                    str(s.entries),
                    str(s.appeared),
                    str(s.vanished),
                    str(s.changed),
                ],
            )
        )
    for r in result.runs:
        done = sum(1 for a in r.actions if a["action"] not in ("skip",))
        rows.append(
            (
                r.started_at,
                [
                    _when_short(r.started_at, console),
                    "apply",
                    str(r.id),
                    "ok" if r.ok else "FAILED",
                    r.station or "-",
                    f"{done} changes",
                    "",
                    "",
                    "",
                ],
            )
        )
    for _, row in sorted(rows, key=lambda item: item[0]):
        table.add_row(*row)
    console.print(f"device {result.imei}", highlight=False, markup=False)
    console.print(table)


def render_diff(d: SnapshotDiff, console: Console) -> None:
    console.print(
        f"device {d.imei}: snapshot {d.from_id if d.from_id is not None else '(none)'} "
        f"({_when(d.from_taken_at)}) -> {d.to_id} ({_when(d.to_taken_at)})",
        highlight=False,
        markup=False,
    )
    if d.empty:
        console.print(f"no change ({d.unchanged} entries identical)")
        return
    for e in d.appeared:
        console.print(f"[green]+ {e.sec_tag} {type_name(e.type)} {_short(e.sha256)}[/]", highlight=False)
    for e in d.vanished:
        console.print(f"[red]- {e.sec_tag} {type_name(e.type)} {_short(e.sha256)}[/]", highlight=False)
    for c in d.changed:
        console.print(
            f"[yellow]~ {c.sec_tag} {type_name(c.type)} {_short(c.before)} -> {_short(c.after)}[/]", highlight=False
        )
    console.print(f"{d.unchanged} unchanged")


def render_drift(report: DriftReport, console: Console) -> None:
    from rich.table import Table

    head = f"{report.devices_checked} devices checked"
    if report.manifest:
        head += f" against {report.manifest}"
    if not report.drifted:
        console.print(f"{head}: no drift (certificates expiring within {report.days} days: none)", markup=False)
        return
    console.print(f"{head}: {len(report.drifted)} drifted", highlight=False, markup=False)
    wide = _wide(console)
    table = Table()
    _imei_column(table)
    if wide:
        table.add_column("snapshot", justify="right", no_wrap=True)
        _time_column(table, "taken", console)
    table.add_column("problem", no_wrap=True)
    _tag_column(table)
    table.add_column("type", overflow="fold")
    table.add_column("detail", overflow="fold")
    for status in report.drifted:
        for p in status.problems:
            detail = _when_short(p.not_after, console) if p.not_after else _short(p.sha256) if p.sha256 else ""
            where = [str(status.latest_snapshot_id), _when(status.taken_at)] if wide else []
            table.add_row(status.imei, *where, p.kind, str(p.sec_tag), type_name(p.type), detail)
    console.print(table)


class ImportResult:
    """`import` output."""

    def __init__(self, imei: str, file: str, parsed: ParsedCapture, snapshot_ids: list[int]) -> None:
        self.imei, self.file, self.parsed, self.snapshot_ids = imei, file, parsed, snapshot_ids

    def to_json(self) -> dict[str, Any]:
        return {
            "imei": self.imei,
            "file": self.file,
            "snapshot_ids": self.snapshot_ids,
            "listings": [
                {
                    "taken_at": _when(lst.taken_at) if lst.taken_at else None,
                    "entries": len(lst.entries),
                    "only_sec_tag": lst.only_sec_tag,
                    "only_type": lst.only_type,
                }
                for lst in self.parsed.listings
            ],
            "lines": self.parsed.lines,
            "ignored_lines": self.parsed.ignored,
            "unreadable": [u.to_json() for u in self.parsed.unreadable],
        }


def render_import(result: ImportResult, console: Console) -> None:
    parsed = result.parsed
    console.print(
        f"{result.file}: {plural(len(result.snapshot_ids), 'snapshot')} recorded for {result.imei} "
        f"({parsed.entry_count} entries; {parsed.ignored} other lines ignored, "
        f"{len(parsed.unreadable)} unreadable)",
        highlight=False,
        markup=False,
    )
    _warn_unreadable(parsed.unreadable)


def _warn_unreadable(lines: list[Unreadable]) -> None:
    for item in lines[:SHOW_UNREADABLE]:
        stderr_console().print(f"warning: line {item.line_no} unreadable: {item.text!r}", highlight=False, markup=False)
    if len(lines) > SHOW_UNREADABLE:
        stderr_console().print(
            f"warning: ... and {len(lines) - SHOW_UNREADABLE} more unreadable lines", highlight=False
        )


def _open_inventory(db: str | None, *, create_dirs: bool = False) -> Inventory:
    """The inventory at `db`; SQLAlchemy (and psycopg, for PostgreSQL URLs) load only where a command needs them."""
    from credwarden.inventory.store import Inventory

    return Inventory.open(db, create_dirs=create_dirs)


def _expected(manifest: Path | None) -> tuple[str | None, list[ExpectedSlot]]:
    if manifest is None:
        return None, []
    from credwarden.inventory.drift import expected_from_manifest

    return expected_from_manifest(manifest)


def _write_output(text: str, output: Path | None) -> None:
    """stdout, or a file replaced atomically (a Prometheus textfile collector never sees half a file).

    The file gets the mode any tool's output gets (0666 less the umask), so another user (node_exporter) can
    read it where the umask allows."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _snapshots_phrase(snapshots: int, entries: int) -> str:
    return f"{plural(snapshots, 'snapshot')} with {plural(entries, 'entry', 'entries')}"


def render_forget(result: ForgetResult, console: Console) -> None:
    verb = "would remove" if result.dry_run else "removed"
    console.print(
        f"device {result.imei}: {verb} {_snapshots_phrase(result.snapshots, result.entries)}, "
        f"{plural(result.apply_runs, 'apply run')} with {plural(result.apply_actions, 'action')}, "
        f"{plural(result.reports, 'field report')} and {plural(result.alerts, 'alert')}",
        highlight=False,
    )


def render_prune(result: PruneResult, console: Console) -> None:
    verb = "would remove" if result.dry_run else "removed"
    console.print(
        f"snapshots taken before {_when(result.cutoff)}: {verb} {_snapshots_phrase(result.snapshots, result.entries)} "
        f"of {plural(result.devices, 'device')}; every device keeps its newest {result.keep_last}",
        highlight=False,
    )


def _confirm(question: str) -> None:
    if not typer.confirm(question, err=True):
        raise UsageError("not confirmed (use --yes to skip the question); nothing was removed")


def render_audit(result: AuditResult, console: Console) -> None:
    from credwarden.cli.provision_cmds import render_plan

    where = (
        f"inventory snapshot {result.snapshot_id} of {result.imei} ({_when(result.taken_at)})"
        if result.source == "inventory"
        else f"device {result.imei or '?'}"
    )
    console.print(f"audit of {where}", highlight=False, markup=False)
    render_plan(result.plan, console)


# -- commands ----------------------------------------------------------------------------------------------------


commands = typer.Typer(rich_markup_mode=None)
inv_app = typer.Typer(
    rich_markup_mode=None, help="Fleet inventory: what is stored on which device, history, drift.", no_args_is_help=True
)
commands.add_typer(inv_app, name="inventory", rich_help_panel="Fleet")


@commands.command(rich_help_panel="Fleet")
def audit(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="Manifest the device must match.")],
    from_inventory: Annotated[
        str | None,
        typer.Option(
            "--from-inventory",
            help="Audit the latest inventory snapshot of DEVICE (IMEI / UUID / prefix) instead of a live device.",
        ),
    ] = None,
    dialect: Annotated[
        str,
        typer.Option(
            "--dialect",
            help="With --from-inventory: the firmware front-end the device uses (at_client, shell, slm).",
        ),
    ] = "at_client",
) -> None:
    """Check a device (or its last inventory snapshot) against a manifest with apply's rules; changes nothing.
    Exit 0 when it matches, 6 when apply would change something or cannot verify an entry."""
    opts = cli_context(ctx)
    with cli_errors():
        if from_inventory is not None:
            with _open_inventory(opts.db) as inv:
                imei = inv.device_imei(from_inventory)
                view = inv.latest(imei)
                uuid = next((d.uuid for d in inv.devices() if d.imei == imei), None)
            if view is None:
                raise ValidationError(f"device {imei} has no snapshot in the inventory")
            from credwarden.inventory.audit import audit_snapshot

            result = audit_snapshot(view, manifest, dialect=dialect, uuid=uuid)
        else:
            from credwarden.provision import plan as live_plan

            with open_device(opts) as dev:
                found = live_plan(dev, manifest)
                from credwarden.inventory.audit import AuditResult

                result = AuditResult(plan=found, source="device", imei=found.device.imei if found.device else None)
        emit(result, opts.json, render_audit)
    if not result.in_sync:
        raise typer.Exit(int(ExitCode.VERIFICATION))


@inv_app.command()
def devices(ctx: typer.Context) -> None:
    """Every device in the inventory with its latest snapshot."""
    with cli_errors(), _open_inventory(cli_context(ctx).db) as inv:
        emit(inv.devices(), cli_context(ctx).json, render_devices)


@inv_app.command()
def show(
    ctx: typer.Context,
    device: DeviceArg,
    snapshot: Annotated[int | None, typer.Option("--snapshot", help="This snapshot id instead of the latest.")] = None,
) -> None:
    """The device's latest snapshot (or --snapshot ID)."""
    with cli_errors(), _open_inventory(cli_context(ctx).db) as inv:
        imei = inv.device_imei(device)
        view = inv.snapshot(snapshot) if snapshot is not None else inv.latest(imei)
        if view is None:
            raise ValidationError(f"device {imei} has apply runs but no snapshot yet")
        if view.imei != imei:
            raise ValidationError(f"snapshot {snapshot} belongs to device {view.imei}, not {imei}")
        emit(view, cli_context(ctx).json, render_snapshot)


@inv_app.command()
def history(ctx: typer.Context, device: DeviceArg) -> None:
    """Every snapshot (with what changed) and apply run of a device, oldest first."""
    with cli_errors(), _open_inventory(cli_context(ctx).db) as inv:
        imei = inv.device_imei(device)
        snapshots, runs = inv.history(imei)
        emit(HistoryResult(imei, snapshots, runs), cli_context(ctx).json, render_history)


@inv_app.command()
def diff(
    ctx: typer.Context,
    device: DeviceArg,
    from_: Annotated[str | None, typer.Option("--from", help="Snapshot id or ISO time (newest at/before).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Snapshot id or ISO time. [default: latest]")] = None,
) -> None:
    """What appeared, vanished and changed between two snapshots (default: the last two)."""
    with cli_errors(), _open_inventory(cli_context(ctx).db) as inv:
        emit(inv.diff(device, from_, to), cli_context(ctx).json, render_diff)


@inv_app.command("drift")
def drift_cmd(
    ctx: typer.Context,
    manifest: Annotated[Path | None, typer.Argument(help="Manifest the devices must match (optional).")] = None,
    days: DaysOption = 30,
) -> None:
    """Devices whose latest snapshot lacks or differs from the manifest, lost a credential, or has a
    certificate expiring within --days. Exit 6 when any device drifted."""
    with cli_errors():
        name, expected = _expected(manifest)
        with _open_inventory(cli_context(ctx).db) as inv:
            report = inv.drift(expected, manifest=name, days=days)
        emit(report, cli_context(ctx).json, render_drift)
    if report.drifted:
        raise typer.Exit(int(ExitCode.VERIFICATION))


@inv_app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, csv or prometheus.")] = "json",
    manifest: Annotated[Path | None, typer.Option("--manifest", help="Count missing/mismatched against it.")] = None,
    days: DaysOption = 30,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE (atomic replace).")] = None,
) -> None:
    """The fleet's latest state as JSON, CSV, or Prometheus text (for node_exporter's textfile collector)."""
    with cli_errors():
        name, expected = _expected(manifest)
        with _open_inventory(cli_context(ctx).db) as inv:
            text = inv.export(fmt.strip().lower(), expected, manifest=name, days=days)
        _write_output(text, output)


@inv_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="Capture with %CMNG list output (terminal, Link Monitor, SMS), or CW/1 / CWS/1 reports."),
    ],
    device: Annotated[
        str | None,
        typer.Option("--device", help="IMEI of the device the capture came from (reports carry their own)."),
    ] = None,
    station: Annotated[str | None, typer.Option("--station", help="Station / source name to record.")] = None,
    slm_native_tls: Annotated[
        bool, typer.Option("--slm-native-tls", help="Modem tags are SLM native-TLS slots (tag*10+type, type 0).")
    ] = False,
    partial: Annotated[
        bool | None,
        typer.Option(
            "--partial/--complete",
            help="--partial: the capture lists only some sec_tags, keep the device's other entries from its previous "
            "snapshot; --complete: it is the whole store. [default: complete only for the answer to a full "
            "AT%CMNG=1 closed by OK (an SMS line or a cut-off list is partial)]",
            show_default=False,
        ),
    ] = None,
    any_id: Annotated[
        bool,
        typer.Option("--any-id", help="Accept a --device id that is not an IMEI (letters, digits, '-', up to 32)."),
    ] = False,
    create_dirs: Annotated[
        bool, typer.Option("--create-dirs", help="Create the directory of a --db file that does not exist yet.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse the file if any line is unreadable.")] = False,
    taken_at: Annotated[
        str | None,
        typer.Option("--taken-at", help="Snapshot time (ISO 8601) for captures without timestamps. [default: now]"),
    ] = None,
) -> None:
    """Record snapshots from captured `AT%CMNG=1` output (one per listing; log timestamps kept)."""
    with cli_errors():
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read: {exc.strerror}", source=str(file)) from None
        from credwarden.report import looks_like_report

        if looks_like_report(raw.decode("latin-1")):
            from credwarden.cli.report_import import import_reports

            import_reports(file, raw, device, cli_context(ctx).db, cli_context(ctx).json)
            return
        if device is None:
            raise UsageError("--device IMEI is required for a capture (only CW/1 reports name their device)")
        from credwarden.inventory.importer import parse_capture

        parsed = parse_capture(raw.decode("utf-8", errors="replace"), slm_native_tls=slm_native_tls)
        if strict and parsed.unreadable:
            _warn_unreadable(parsed.unreadable)
            raise ValidationError(f"{plural(len(parsed.unreadable), 'unreadable line')} (--strict)", source=str(file))
        if not parsed.listings:
            _warn_unreadable(parsed.unreadable)
            raise ValidationError("no %CMNG list output found", source=str(file))
        from credwarden.inventory.queries import parse_time

        when = parse_time(taken_at) if taken_at else None
        with _open_inventory(cli_context(ctx).db, create_dirs=create_dirs) as inv:
            ids = inv.record_import(device, parsed, station=station, partial=partial, default_time=when, any_id=any_id)
        emit(ImportResult(device, str(file), parsed, ids), cli_context(ctx).json, render_import)


@inv_app.command()
def forget(ctx: typer.Context, device: DeviceArg, yes: YesOption = False, dry_run: DryRunOption = False) -> None:
    """Remove a device and everything recorded about it (snapshots, apply runs). Asks first unless --yes."""
    opts = cli_context(ctx)
    with cli_errors(), _open_inventory(opts.db) as inv:
        found = inv.forget(device, dry_run=True)
        if not dry_run and not yes:
            _confirm(
                f"Forget device {found.imei}: {_snapshots_phrase(found.snapshots, found.entries)}, "
                f"{plural(found.apply_runs, 'apply run')}, {plural(found.reports, 'field report')} and "
                f"{plural(found.alerts, 'alert')} are deleted from {inv.location}. Continue?"
            )
        emit(found if dry_run else inv.forget(found.imei), opts.json, render_forget)


@inv_app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        float, typer.Option("--older-than", min=0, metavar="DAYS", help="Remove snapshots taken more than DAYS ago.")
    ],
    keep_last: Annotated[
        int,
        typer.Option("--keep-last", min=1, help="Keep each device's newest N snapshots whatever their age (N >= 2)."),
    ] = 2,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Remove old snapshots, keeping each device's newest ones (at least two: drift compares them). Apply runs
    stay. Asks first unless --yes; --dry-run only counts."""
    opts = cli_context(ctx)
    with cli_errors(), _open_inventory(opts.db) as inv:
        found = inv.prune(older_than_days=older_than, keep_last=keep_last, dry_run=True)
        if not dry_run and not yes and found.snapshots:
            _confirm(
                f"Remove {_snapshots_phrase(found.snapshots, found.entries)} of {plural(found.devices, 'device')} "
                f"from {inv.location}. Continue?"
            )
        result = (
            found
            if dry_run or not found.snapshots
            else inv.prune(
                older_than_days=older_than, keep_last=keep_last, now=found.cutoff + timedelta(days=older_than)
            )
        )
        emit(result, opts.json, render_prune)
