"""Field commands: `explain`, `doctor`, `canary`, and `sim campaign` (registered on the simulator group).

JSON schemas (stable; `--json`):
* explain  -> Explanation.to_json():  {query, number, ambiguous, interpretations: [{scheme, scheme_label, code,
              name, meaning, credential_related, credential_cause, check}]}
* doctor   -> DoctorReport.to_json(): {device, checked_at, entries, summary{errors,warnings,info}, findings: [...],
              exit_code, firmware{family,version,real_digests}}
* canary   -> CanaryResult.to_json()
* campaign -> CampaignReport.to_json()
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credwarden.cli.context import cli_context, open_device
from credwarden.cli.failures import cli_errors
from credwarden.cli.output import emit, escape, fail, stderr_console
from credwarden.cli.sim_cmds import sim_app
from credwarden.errors import ExitCode

if TYPE_CHECKING:  # the field modules load only when their command runs (fast --help)
    from rich.console import Console
    from rich.text import Text

    from credwarden.field.campaign import CampaignReport
    from credwarden.field.canary import CanaryDevice, CanaryPlan, CanaryResult
    from credwarden.field.explain import Explanation
    from credwarden.field.findings import DoctorReport

commands = typer.Typer(rich_markup_mode=None)
PANEL = "Field"
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_explanation(result: Explanation, console: Console) -> None:
    """Human rendering of `explain`."""
    if result.ambiguous:
        console.print(
            f"[bold]{escape(result.query)}[/] has {len(result.interpretations)} interpretations "
            "(the errno numbering changed between bsdlib and nrf_modem):"
        )
    for item in result.interpretations:
        code = f"-{abs(item.code)}" if item.scheme != "cme" else str(item.code)
        marker = "[green]credentials[/]" if item.credential_related else "[dim]not credentials[/]"
        console.print(f"\n[bold]{escape(item.name)}[/] ({code}, {escape(item.scheme_label)}) — {marker}")
        console.print(f"  meaning: {escape(item.meaning)}")
        console.print(f"  for credentials: {escape(item.credential_cause)}")
        if item.check:
            console.print(f"  check with: [bold]{escape(item.check)}[/]")


#: Columns of the severity label of a doctor finding; the finding's text is indented to match.
_SEVERITY_WIDTH = 9


def render_doctor(report: DoctorReport, console: Console) -> None:
    """Human rendering of `doctor`: one block per finding (title, detail, fix), wrapped to the terminal at word
    boundaries and never cut."""
    from rich.text import Text

    info = report.info
    console.print(
        f"{info.firmware or 'unknown firmware'} {info.model or ''} IMEI {info.imei or '?'} dialect {info.dialect} "
        f"CFUN {info.cfun} — {report.entries} entries",
        highlight=False,
        markup=False,
    )
    for finding in report.findings:
        title = finding.title
        if finding.sec_tag is not None and f"sec_tag {finding.sec_tag}" not in title:
            title = f"sec_tag {finding.sec_tag}: {title}"
        label = Text(finding.severity.value.ljust(_SEVERITY_WIDTH), style=_SEVERITY_STYLE[finding.severity.value])
        _indented(console, label, Text(title, style="bold"))
        _indented(console, None, Text(finding.detail))
        if finding.fix:
            _indented(console, None, Text(f"fix: {finding.fix}"))
    console.print(f"{report.errors} errors, {report.warnings} warnings")


def _indented(console: Console, label: Text | None, body: Text) -> None:
    """`body` wrapped at word boundaries to the console width, every line indented past the `label` column."""
    from rich.text import Text

    width = max(20, console.width - _SEVERITY_WIDTH)
    for index, line in enumerate(body.wrap(console, width, overflow="fold")):
        line.rstrip()
        prefix = label if index == 0 and label is not None else Text(" " * _SEVERITY_WIDTH)
        console.print(Text.assemble(prefix, line), soft_wrap=True)


def render_canary(result: CanaryResult, console: Console) -> None:
    """Human rendering of `canary`."""
    if result.error is not None:
        console.print(f"[bold red]stopped at cycle {result.cycles_done + 1}[/]: {escape(result.error)}")
    if result.clean:
        state = "interrupted" if result.interrupted or result.error else "clean"
        console.print(
            f"[green]{state}[/]: {result.cycles_done}/{result.cycles_planned} cycles, {result.nvm_writes} NVM "
            f"writes, watched tags {', '.join(map(str, result.watch))} unchanged ({len(result.baseline)} entries)"
        )
        return
    console.print(
        f"[bold red]change detected at cycle {result.changed_at_cycle}[/] after {result.nvm_writes_at_change} NVM "
        "writes:"
    )
    for change in result.changes:
        console.print(
            f"  sec_tag {change.sec_tag} type {change.type}: {change.kind} "
            f"({change.before or '-'} -> {change.after or '-'})"
        )


@commands.command("explain", context_settings={"ignore_unknown_options": True}, rich_help_panel=PANEL)
def explain_cmd(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="A number or name from a log: -45, 113, 527, '+CME ERROR: 527'.")],
) -> None:
    """Explain what an error number from an application log means for the credentials."""
    from credwarden.field.explain import ExplainInputError, explain

    try:
        result = explain(code)
    except ExplainInputError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    emit(result, cli_context(ctx).json, render_explanation)


@commands.command("doctor", rich_help_panel=PANEL)
def doctor_cmd(
    ctx: typer.Context,
    manifest: Annotated[
        Path | None, typer.Argument(help="Manifest to compare the device with (optional).", show_default=False)
    ] = None,
    expiry_days: Annotated[
        int, typer.Option("--expiry-days", min=0, help="Warn about certificates expiring within this many days.")
    ] = 30,
    no_read_back: Annotated[
        bool,
        typer.Option(
            "--no-read-back",
            help="Do not read entries back (skips the buffer-size check; a >4 kB chain has crashed modems on read).",
        ),
    ] = False,
) -> None:
    """Inspect a device read-only and report findings with severities and fixes (exit 1 on any error finding)."""
    from credwarden.field.doctor import run_doctor

    options = cli_context(ctx)
    with cli_errors():
        with open_device(options) as device:
            report = run_doctor(device, manifest=manifest, expiry_days=expiry_days, read_back=not no_read_back)
        emit(report, options.json, render_doctor)
    raise typer.Exit(int(report.exit_code))


@commands.command("canary", rich_help_panel=PANEL)
def canary_cmd(
    ctx: typer.Context,
    write_tag: Annotated[int, typer.Option("--write-tag", help="Scratch sec_tag rewritten every cycle.")],
    watch: Annotated[str, typer.Option("--watch", help="Watched sec_tags, comma-separated (e.g. 42,43).")],
    cycles: Annotated[int, typer.Option("--cycles", help="Number of write cycles.")] = 100,
    interval: Annotated[float, typer.Option("--interval", help="Seconds to wait between cycles.")] = 0.0,
    delete_write: Annotated[bool, typer.Option("--delete-write", help="Delete then write each cycle.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Use a scratch tag that holds other data.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch entry at the end.")] = False,
) -> None:
    """Rewrite a scratch tag repeatedly and stop at the first change of a watched tag (the field recipe for
    credentials that vanish).

    Exit codes: 0 clean, 6 a watched entry appeared/vanished/changed, 1 interrupted.
    """
    from credwarden.field.canary import parse_watch, plan_canary

    with cli_errors():
        plan = plan_canary(
            write_tag,
            parse_watch(watch),
            cycles,
            interval=interval,
            mode="delete-write" if delete_write else "alternate",
            force=force,
        )
        options = cli_context(ctx)
        with open_device(options) as device:
            result = _run_canary_with_progress(device, plan, keep)
        emit(result, options.json, render_canary)
    raise typer.Exit(int(result.exit_code))


def _run_canary_with_progress(dev: CanaryDevice, plan: CanaryPlan, keep: bool) -> CanaryResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from credwarden.field.canary import run_canary

    if not stderr_console().is_terminal:
        return run_canary(dev, plan, keep_scratch=keep)
    columns = (TextColumn("canary"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task("cycles", total=plan.cycles)
        return run_canary(dev, plan, keep_scratch=keep, progress=lambda done, _total: bar.update(task, completed=done))


def render_campaign(report: CampaignReport, console: Console) -> None:
    """Human rendering of `sim campaign`: one row per fault kind, then every violation."""
    from rich.table import Table

    table = Table(title=f"fault campaign: mfw {report.profile}, {report.frontend}, {report.elapsed_s:.1f} s")
    columns = (
        "kind",
        "points",
        "1st failed",
        "false ok",
        "not desired",
        "unrelated",
        "CFUN changed",
        "CFUN after reboot",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "kind" else "left", no_wrap=column == "kind")
    for s in report.summaries:
        shown = [str(v) if i in (0, 1, 6) or v == 0 else f"[bold red]{v}[/]" for i, v in enumerate(s.figures())]
        table.add_row(s.kind, *shown)
    console.print(table)
    console.print(
        "targets (0): false ok = first apply said ok but the state differs; not desired = wrong state after "
        "the second apply; unrelated = a pre-seeded tag changed; CFUN changed = left changed while the "
        "device answered. Informational: 1st failed, CFUN after reboot.",
        highlight=False,
    )
    if not report.violations:
        console.print("[green]all targets met[/] (false successes, not desired, unrelated touched, CFUN changed: 0)")
        return
    console.print(f"[bold red]{len(report.violations)} violations:[/]")
    for result in report.violations:
        what = [
            name
            for name, flag in (
                ("false success", result.false_success),
                ("not in the desired state after the second apply", result.not_desired),
                ("unrelated tag touched", result.unrelated_touched),
                ("CFUN left changed", result.cfun_changed),
            )
            if flag
        ]
        console.print(
            f"  {result.point.kind} #{result.point.index}: {escape(result.point.where)} -> "
            f"{', '.join(what)}; first apply: {escape(result.first_message or 'ok')}"
        )


@sim_app.command("campaign")
def campaign_cmd(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="Manifest to apply at every fault point.")],
    points: Annotated[
        int | None,
        typer.Option("--points", min=1, help="At most this many points per kind (sampled evenly). [default: all]"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulators' random decisions.")] = 0,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="power-cut, hang, lost-result, noise, reboot, "
            "or the slower power-off (repeatable). [default: all but "
            "power-off]",
        ),
    ] = None,
    profile: Annotated[str, typer.Option("--profile", help="Simulated firmware version.")] = "2.0.2",
    frontend: Annotated[str, typer.Option("--frontend", help="at_client, shell or slm.")] = "at_client",
    timeout: Annotated[float, typer.Option("--timeout", min=0.05, help="Client timeout per command (s).")] = 0.25,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Points run at a time.")] = 8,
) -> None:
    """Inject faults at many points of an apply on the simulator, reboot, apply again; check the targets.

    Exit codes: 0 every target met, 6 some point violated a target, 5 bad manifest, 2 bad options.
    """
    import logging

    from credwarden.field.campaign import KINDS, CampaignSettings, run_campaign

    with cli_errors():
        kinds = tuple(dict.fromkeys(kind or KINDS))
        settings = CampaignSettings(
            manifest,
            kinds=kinds,  # type: ignore[arg-type]
            points=points,
            seed=seed,
            profile=profile,
            frontend=frontend,
            timeout=timeout,
            workers=workers,
        )
        quiet = logging.getLogger("credwarden")
        previous = quiet.level
        quiet.setLevel(logging.CRITICAL)  # recoveries the campaign provokes on purpose are not news
        try:
            report = _run_campaign_with_progress(run_campaign, settings)
        finally:
            quiet.setLevel(previous)
        emit(report, cli_context(ctx).json, render_campaign)
    raise typer.Exit(int(report.exit_code))


def _run_campaign_with_progress(run: Callable[..., CampaignReport], settings: object) -> CampaignReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not stderr_console().is_terminal:
        return run(settings)
    columns = (TextColumn("campaign"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task("points", total=None)
        return run(settings, progress=lambda done, total: bar.update(task, completed=done, total=total))
