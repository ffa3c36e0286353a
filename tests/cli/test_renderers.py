"""Every status renders: each value of the provisioning statuses and actions, the keygen decisions, the factory
statuses and stages, and the doctor severities goes through the human renderer and the JSON renderer without an
error (a rich MarkupError included), and the value is shown. Device names and reasons with brackets are text,
never markup. And `apply` of a manifest with `[[keygen]]` on one port, with human output, works end to end.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from rich.console import Console
from tests.cli.conftest import BoardFactory
from tests.cli.helpers import cli_process

from credwarden.errors import ExitCode

#: Text that breaks naive markup: an unknown tag, a closing tag with nothing open, a style name.
BRACKETS = "[at_client] [/] [bold]x"
PORT = "sim:///tmp/test_x[at_client]/state.json"
IMEI = "352656100000028"


#: Widths every renderer is tried at: a narrow terminal and one wide enough that no cell wraps (content checks).
WIDTHS = (80, 400)


def _console(width: int = 400) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, color_system=None, soft_wrap=True), buffer


def _json(result: object, capsys: pytest.CaptureFixture[str]) -> object:
    from credwarden.cli.output import print_json

    print_json(result)
    return json.loads(capsys.readouterr().out)


def _info(port: str = PORT) -> Any:
    from credwarden.models import DeviceInfo

    return DeviceInfo(IMEI, "nRF9151-LACA", "mfw_nrf91x1_2.0.2", (2, 0, 2), None, None, 1, "at_client", port)


def _plain(text: str) -> str:
    """Rendered text without table borders and line breaks (to find a value a column may have wrapped)."""
    return re.sub(r"[\s│┃║|]+", " ", text)


def test_every_apply_status_and_action_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from credwarden.cli.provision_cmds import render_report
    from credwarden.provision.apply import ActionResult, ApplyReport, Status
    from credwarden.provision.plan import Action, Plan, PlannedAction

    statuses, actions = get_args(Status), get_args(Action)
    assert len(statuses) >= 8 and len(actions) >= 5
    results = tuple(
        ActionResult(PlannedAction(42, 0, action, f"reason {BRACKETS}"), status, detail=BRACKETS)
        for status in statuses
        for action in actions
    )
    for exit_code in ExitCode:
        report = ApplyReport(
            ok=exit_code == ExitCode.OK,
            device=_info(),
            plan=Plan((), "at_client"),
            results=results,
            message=None if exit_code == ExitCode.OK else f"message {BRACKETS}",
            exit_code=exit_code,
        )
        for width in WIDTHS:
            console, out = _console(width)
            render_report(report, console)
        text = _plain(out.getvalue())
        for status in statuses:
            assert f" {status} " in text, (status, text)
        assert BRACKETS in text and PORT in text
        data = _json(report, capsys)
        assert isinstance(data, dict)
        assert [a["status"] for a in data["actions"]] == [r.status for r in results]
        assert data["interrupted"] is (exit_code == ExitCode.INTERRUPTED)


def test_every_plan_action_and_keygen_decision_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from credwarden.cli.provision_cmds import render_plan
    from credwarden.provision.plan import Action, KeygenDecision, KeygenRow, Plan, PlannedAction

    actions = tuple(PlannedAction(7, 1, action, f"because {BRACKETS}") for action in get_args(Action))
    keygen = tuple(KeygenRow(8, decision, f"keygen {BRACKETS}") for decision in get_args(KeygenDecision))
    for device in (None, _info()):
        plan = Plan(actions, "shell", keygen=keygen, device=device)
        for width in WIDTHS:
            console, out = _console(width)
            render_plan(plan, console)
        text = _plain(out.getvalue())
        for value in (*get_args(Action), *get_args(KeygenDecision)):
            assert f" {value} " in text, value
        assert f"because {BRACKETS}" in text and (device is None or PORT in text)
        data = _json(plan, capsys)
        assert isinstance(data, dict) and data["in_sync"] is False
        assert [k["decision"] for k in data["keygen"]] == list(get_args(KeygenDecision))


def test_every_factory_status_and_stage_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from credwarden.factory.results import BatchSummary, DeviceResult, Stage, Status
    from credwarden.factory.runner import ProgressEvent
    from credwarden.factory.view import JsonLinesView, LiveTableView, PlainLineView

    results = [
        DeviceResult(f"/dev/ttyACM{i}[{status.value}]", status, imei=IMEI, error=f"error {BRACKETS}")
        for i, status in enumerate(Status)
    ]
    summary = BatchSummary.of(results)
    for status in Status:
        assert status.value in summary.describe() or status.ok
    plain_out, json_out = io.StringIO(), io.StringIO()
    console, live_out = _console()
    views = [PlainLineView(plain_out), JsonLinesView(json_out), LiveTableView(console, title=f"batch {BRACKETS}")]
    for view in views:
        view.start()
        for result in results:
            for stage in Stage:
                view(ProgressEvent(result.port, stage, "detail [x]"))
            final = Stage.DONE if result.ok else Stage.FAILED
            view(ProgressEvent(result.port, final, result.status.value, result=result))
        view.stop(summary)
    rows = [json.loads(line) for line in json_out.getvalue().splitlines()]
    assert [row["status"] for row in rows] == [s.value for s in Status]
    for status in Status:
        assert status.value in plain_out.getvalue()
        assert status.value in _plain(live_out.getvalue())
    assert _json(summary, capsys) == summary.to_json()


def test_every_doctor_severity_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from credwarden.cli.field_cmds import render_doctor
    from credwarden.field.findings import DoctorReport, Finding, Severity

    findings = tuple(
        Finding(severity, f"test.{severity.value}", f"title {BRACKETS}", f"detail {BRACKETS}", f"fix {BRACKETS}", 42, 0)
        for severity in Severity
    )
    report = DoctorReport(_info(), findings, entries=3, checked_at=datetime(2026, 1, 1, tzinfo=UTC))
    for width in WIDTHS:
        console, out = _console(width)
        render_doctor(report, console)
    text = _plain(out.getvalue())
    for severity in Severity:
        assert f" {severity.value} " in text
    assert f"detail {BRACKETS}" in text and f"fix {BRACKETS}" in text
    data = _json(report, capsys)
    assert isinstance(data, dict) and [f["severity"] for f in data["findings"]] == [s.value for s in Severity]


# -- [[keygen]] on one port, human output, a real process against a simulated board ----------------------------


def test_keygen_apply_on_one_port_with_human_output(make_board: BoardFactory, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from credwarden.creds.ca import LocalCA

    board = make_board(profile="2.0.2", boot_cfun=1)
    ca = LocalCA.generate(tmp_path / "ca", "credwarden TEST ONLY keygen CA")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[credential]]\nsec_tag = 10\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\nsubject = "CN=nrf-{imei}"\n'
    )
    result = cli_process("--port", board.port, "apply", str(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    text = _plain(result.stdout)
    assert " generated " in text and " written " in text and "ok:" in text
    assert f"IMEI {board.imei}" in result.stdout
    assert {(42, 1), (42, 2), (10, 0)} <= board.user_entries() and board.cfun == 1
    again = cli_process("--port", board.port, "apply", str(manifest))
    assert again.returncode == 0 and " generated " not in _plain(again.stdout), again.stdout
