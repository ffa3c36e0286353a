"""`credwarden collect`: watch the fleet's field reports (MQTT and/or HTTP) into the inventory, alert on changes;
`credwarden replay-dead-letter`: send the notices no webhook took again.

Exit codes of collect: 0 stopped by SIGTERM / SIGINT (queued reports stored first), 1 the inventory cannot be
opened, 2 bad options or unusable TLS files, 3 what retrying cannot fix (login refused, broker certificate not
trusted, client certificate refused), 5 the manifest is invalid. Of replay-dead-letter: 0 every notice delivered
(or none waiting), 1 some failed again (kept in the file), 2 bad options, 5 a line of the file is not a notice.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credwarden.cli.context import cli_context
from credwarden.cli.failures import cli_errors, validation_json
from credwarden.cli.output import print_json, progress, stderr_console, stdout_console
from credwarden.errors import ExitCode, UsageError, ValidationError

if TYPE_CHECKING:
    from credwarden.collect.dead_letter import ReplayResult
    from credwarden.collect.service import CollectorEvent, CollectorOptions, CollectorSummary

#: Rejections shown per reason in the human output (all are counted, and sampled to the rejects file).
SHOW_REJECTIONS = 10

commands = typer.Typer()


@commands.command(rich_help_panel="Fleet")
def collect(
    ctx: typer.Context,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="Broker URL, mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; login and TLS files from "
            "$CREDWARDEN_MQTT_USERNAME / _PASSWORD / _CA / _CERT / _KEY.",
        ),
    ] = None,
    topic: Annotated[
        str, typer.Option("--topic", help="Subscription (shared: $share/GROUP/cw/v1/+/report).")
    ] = "cw/v1/+/report",
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="Persistent session: QoS 1 reports published while the collector is down arrive when it returns.",
        ),
    ] = None,
    session_expiry: Annotated[
        int, typer.Option("--session-expiry", min=1, help="Seconds the broker keeps the session while away.")
    ] = 7 * 86_400,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="What devices must hold ({imei} per-device files as in apply)."),
    ] = None,
    webhook: Annotated[
        list[str] | None, typer.Option("--webhook", metavar="URL", help="POST every alert as JSON here (repeatable).")
    ] = None,
    dead_letter: Annotated[
        Path | None,
        typer.Option("--dead-letter", help="Notices no webhook took. [default: $CREDWARDEN_STATE_DIR/collect/]"),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Samples of refused reports (JSON lines). [default: state dir]"),
    ] = None,
    http: Annotated[
        str | None, typer.Option("--http", help="Serve POST /ingest and GET /metrics on HOST:PORT.")
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", help="Environment variable holding the bearer token (needed beyond 127.0.0.1)."),
    ] = None,
    confirm: Annotated[
        int, typer.Option("--confirm", min=1, help="Consecutive reports a change must persist before it alerts.")
    ] = 2,
    interval: Annotated[
        int, typer.Option("--interval", min=1, help="Seconds between a device's reports (for silence).")
    ] = 86_400,
    silent_after: Annotated[
        int, typer.Option("--silent-after", min=1, help="Missed intervals before a device is silent.")
    ] = 3,
    expiring_days: Annotated[
        int, typer.Option("--expiring-days", min=0, help="Certificates expiring within N days alert.")
    ] = 30,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Reports per transaction (max).")] = 500,
) -> None:
    """Collect field reports into the inventory until stopped (SIGTERM / Ctrl-C), alerting on lasting changes.

    Exit 0 when stopped (queued reports stored first), 1 when the inventory cannot be opened, 2 on bad options or
    unusable TLS files, 3 for what retrying cannot fix (login refused, broker certificate not trusted, client
    certificate refused), 5 for an invalid manifest."""
    with cli_errors():
        as_json = cli_context(ctx).json
        options = _options(
            mqtt, topic, client_id, session_expiry, manifest, webhook or [], dead_letter, rejects, http,
            token_env, confirm, interval, silent_after, expiring_days, batch, cli_context(ctx).db,
        )  # fmt: skip
        summary = _run(options, as_json)
        _render_summary(summary, as_json)


def _options(
    mqtt: str | None,
    topic: str,
    client_id: str | None,
    session_expiry: int,
    manifest: Path | None,
    webhooks: list[str],
    dead_letter: Path | None,
    rejects: Path | None,
    http: str | None,
    token_env: str | None,
    confirm: int,
    interval: int,
    silent_after: int,
    expiring_days: int,
    batch: int,
    db: str | None,
) -> CollectorOptions:
    from credwarden.collect.broker import BrokerConfig, check_topic_filter
    from credwarden.collect.http_api import parse_bind
    from credwarden.collect.pipeline import Rules
    from credwarden.collect.service import CollectorOptions, default_state_dir
    from credwarden.collect.webhooks import check_webhook

    if mqtt is None and http is None:
        raise UsageError("nothing to collect from: give --mqtt URL and/or --http HOST:PORT")
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise UsageError(f"--token-env {token_env}: the variable is not set or empty")
    if token is not None and http is None:
        raise UsageError("--token-env protects the HTTP intake: give --http HOST:PORT too")
    if manifest is not None and not manifest.is_file():
        raise UsageError(f"--manifest {str(manifest)!r} is not a file")
    state = default_state_dir()
    return CollectorOptions(
        db=db,
        broker=BrokerConfig.from_url(mqtt) if mqtt is not None else None,
        topic=check_topic_filter(topic),
        client_id=client_id,
        session_expiry_s=session_expiry,
        manifest=manifest,
        webhooks=tuple(check_webhook(u) for u in webhooks),
        http=parse_bind(http, token=token is not None) if http is not None else None,
        token=token,
        rules=Rules(confirm=confirm, expiring_days=expiring_days, interval_s=interval, silent_intervals=silent_after),
        batch_size=batch,
        dead_letter=dead_letter or state / "dead-letter.jsonl",
        rejects=rejects or state / "rejected.jsonl",
        silence_check_s=min(60.0, max(1.0, interval / 10)),
    )


def _run(options: CollectorOptions, as_json: bool) -> CollectorSummary:
    from credwarden.collect.service import Collector

    for path in (options.dead_letter, options.rejects):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    shown: dict[str, int] = {}

    def on_event(event: CollectorEvent) -> None:
        _render_event(event, as_json, shown)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stderr_console().print(f"collect: {signal.Signals(signum).name}: storing what is queued, then stopping")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return Collector(options, on_event=on_event).run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _render_event(event: CollectorEvent, as_json: bool, shown: dict[str, int]) -> None:
    if event.kind in ("alert", "resolved"):
        if as_json:
            sys.stdout.write(json.dumps({"event": event.kind, **event.data}, sort_keys=True) + "\n")
            sys.stdout.flush()
        else:
            style = "bold red" if event.kind == "alert" else "green"
            stdout_console().print(event.message, style=style, highlight=False, markup=False)
        return
    if event.kind == "rejected":
        reason = str(event.data.get("reason"))
        shown[reason] = shown.get(reason, 0) + 1
        if shown[reason] > SHOW_REJECTIONS:
            if shown[reason] == SHOW_REJECTIONS + 1:
                stderr_console().print(f"collect: further {reason} rejections are counted, not shown", highlight=False)
            return
    stderr_console().print(f"collect: {event.message}", highlight=False, markup=False)


def _render_summary(summary: CollectorSummary, as_json: bool) -> None:
    data = summary.to_json()
    if as_json:
        sys.stdout.write(json.dumps({"event": "summary", **data}, sort_keys=True) + "\n")
        return
    rejected = ", ".join(f"{k} {v}" for k, v in data["rejected_by_reason"].items()) or "none"
    alerts = ", ".join(f"{k} {v}" for k, v in data["alerts"].items()) or "none"
    stderr_console().print(
        f"collect: stopped. {data['reports']} reports stored ({data['snapshots']} changed lists), "
        f"refused: {rejected}; alerts: {alerts}; webhooks delivered {data['webhooks_delivered']}, "
        f"dead-lettered {data['webhooks_dead_lettered']}",
        highlight=False,
    )


@commands.command("replay-dead-letter", rich_help_panel="Fleet")
def replay_dead_letter(
    ctx: typer.Context,
    webhook: Annotated[
        list[str],
        typer.Option(
            "--webhook",
            metavar="URL",
            help="The collector's --webhook URLs in its order (each notice goes back to its own).",
        ),
    ],
    file: Annotated[
        Path | None,
        typer.Argument(help="Dead-letter file. [default: $CREDWARDEN_STATE_DIR/collect/dead-letter.jsonl]"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file and show what would be sent.")] = False,
) -> None:
    """Send the notices no webhook took (the collector's dead-letter file) again, once each; those that fail
    again stay in the file. Every line is checked before the first POST.

    Exit 0 when every notice was delivered (or none waits), 1 when some failed again, 2 on bad options (a --webhook
    missing or out of the collector's order), 5 when a line of the file is not a notice (nothing sent)."""
    from credwarden.collect.dead_letter import CLAIM_SUFFIX, pending_files, read_pending, replay, route
    from credwarden.collect.service import default_state_dir
    from credwarden.collect.webhooks import check_webhook, shown_url

    as_json = cli_context(ctx).json
    with cli_errors():
        urls = [check_webhook(u) for u in webhook]
        path = file if file is not None else default_state_dir() / "dead-letter.jsonl"
        if file is not None and not pending_files(file):
            raise UsageError(f"{str(file)!r} is not a file (nor is a claimed {file.name}{CLAIM_SUFFIX} beside it)")
        try:
            letters = read_pending(path)
            route(letters, urls)
        except ValidationError as exc:
            if as_json:
                raise validation_json(exc) from None
            raise
        if dry_run or not letters:
            _render_replay_plan(path, letters, as_json, dry_run=dry_run)
            return
        results: list[ReplayResult] = []
        with progress(f"replaying {len(letters)} notices from {path}"):
            results = replay(path, urls, on_result=(lambda _result: None) if as_json else _render_replay_line)
        delivered = sum(r.delivered for r in results)
        failed = len(results) - delivered
        if as_json:
            print_json(
                {"file": str(path), "ok": failed == 0, "delivered": delivered, "failed": failed,
                 "results": [r.to_json() for r in results]}
            )  # fmt: skip
        else:
            kept = f"; {failed} failed again and stay in {path}" if failed else ""
            targets = ", ".join(sorted({shown_url(u) for u in urls}))
            stderr_console().print(
                f"replay-dead-letter: {delivered} of {len(results)} notices delivered to {targets}{kept}",
                highlight=False,
                markup=False,
            )
        if failed:
            raise typer.Exit(int(ExitCode.FAILURE))


def _render_replay_line(result: ReplayResult) -> None:
    body = result.letter.body
    slot = f" sec_tag {body['sec_tag']}" if body["sec_tag"] is not None else ""
    outcome = "delivered" if result.delivered else f"failed again ({result.error})"
    stdout_console().print(
        f"{body['kind']} {body['device']}{slot} -> {result.letter.webhook}: {outcome}",
        highlight=False,
        markup=False,
    )


def _render_replay_plan(path: Path, letters: list[Any], as_json: bool, *, dry_run: bool) -> None:
    if as_json:
        print_json(
            {"file": str(path), "ok": True, "dry_run": dry_run, "waiting": len(letters),
             "notices": [{"source": x.source, "device": x.body["device"], "kind": x.body["kind"],
                          "sec_tag": x.body["sec_tag"], "webhook": x.webhook, "attempts": x.attempts}
                         for x in letters]}
        )  # fmt: skip
        return
    if not letters:
        stderr_console().print(f"replay-dead-letter: no notice waiting in {path}", highlight=False, markup=False)
        return
    for letter in letters:
        body = letter.body
        slot = f" sec_tag {body['sec_tag']}" if body["sec_tag"] is not None else ""
        stdout_console().print(
            f"would send {body['kind']} {body['device']}{slot} -> {letter.webhook} (failed {letter.attempts} times)",
            highlight=False,
            markup=False,
        )
    stderr_console().print(
        f"replay-dead-letter: dry run, {len(letters)} notices checked in {path}, nothing sent",
        highlight=False,
        markup=False,
    )
