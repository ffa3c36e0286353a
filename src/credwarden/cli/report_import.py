"""`inventory import` of field reports: a CW/1 report, or CWS/1 lines (one per SMS) in a file.

JSON (`--json`): {"file", "reports": [{"imei", "seq", "form", "list_status", "accepted", "reason", "detail",
"report_id", "snapshot_id", "created_snapshot"}]}. Exit 0 when every report was stored, 5 when any was refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from credwarden.cli.output import emit
from credwarden.errors import ExitCode
from credwarden.report import FieldReport, ReportRejected, parse_report
from credwarden.report.errors import IMEI_MISMATCH

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class ReportImport:
    """What an import of report files did."""

    file: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return sum(1 for r in self.rows if not r["accepted"])

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "reports": self.rows}


def _payloads(text: str) -> list[str]:
    stripped = text.lstrip("\ufeff")
    if stripped.startswith("CWS/"):
        return [line for line in stripped.splitlines() if line.strip()]
    return [stripped]


def import_reports(file: Path, raw: bytes, device: str | None, db: str | None, as_json: bool) -> None:
    from credwarden.inventory.field_reports import record_reports
    from credwarden.inventory.store import Inventory

    result = ReportImport(str(file))
    parsed: list[FieldReport] = []
    for payload in _payloads(raw.decode("latin-1")):
        try:
            report = parse_report(payload)
            if device is not None and device != report.imei:
                raise ReportRejected(IMEI_MISMATCH, f"--device {device} but the report header says {report.imei}")
        except ReportRejected as exc:
            result.rows.append({"accepted": False, "reason": exc.code, "detail": str(exc)})
            continue
        parsed.append(report)
    if parsed:
        with Inventory.open(db) as inv:
            stored = record_reports(inv, parsed)
        for item in stored:
            report = item.incoming.report
            row: dict[str, Any] = {
                "imei": report.imei,
                "seq": report.seq,
                "form": report.form,
                "list_status": report.list_status,
                "accepted": item.accepted,
                "reason": item.rejection.code if item.rejection else None,
                "detail": str(item.rejection) if item.rejection else None,
                "report_id": item.report_id or None,
                "snapshot_id": item.snapshot_id,
                "created_snapshot": item.created_snapshot,
            }
            result.rows.append(row)
    emit(result, as_json, _render)
    if result.refused:
        raise typer.Exit(int(ExitCode.VALIDATION))


def _render(result: ReportImport, console: Console) -> None:
    for row in result.rows:
        if not row["accepted"]:
            console.print(f"refused ({row['reason']}): {row['detail']}", highlight=False, markup=False)
            continue
        what = (
            "new snapshot"
            if row["created_snapshot"]
            else ("unchanged list" if row["snapshot_id"] else f"{row['list_status']} list")
        )
        console.print(
            f"{result.file}: report seq {row['seq']} of {row['imei']} ({row['form']}) stored: {what}",
            highlight=False,
            markup=False,
        )
