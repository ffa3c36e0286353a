"""`inventory import` accepts CW/1 reports and CWS/1 lines (SMS), stored as reports with transport `import`."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import IMEI, cw1, sha, sms
from running import count
from typer.testing import CliRunner

from credwarden.cli.app import app
from credwarden.inventory import Inventory

A = (42, 0, sha(1))


def test_import_cw1_and_sms_reports(tmp_path: Path) -> None:
    db = str(tmp_path / "inv.db")
    report = tmp_path / "report.txt"
    report.write_text(cw1(1, [A, (42, 1, sha(2))]))
    runner = CliRunner()
    first = runner.invoke(app, ["inventory", "import", str(report), "--db", db, "--json"])
    assert first.exit_code == 0, first.output
    [row] = json.loads(first.stdout)["reports"]
    assert row["accepted"] and row["created_snapshot"] and row["imei"] == IMEI
    lines = tmp_path / "sms.txt"
    lines.write_text(sms(2, [A, (42, 1, sha(2))]) + "\n" + sms(3, [A]) + "\n" + sms(3, [A]) + "\n")
    second = runner.invoke(app, ["inventory", "import", str(lines), "--db", db, "--json"])
    assert second.exit_code == 5  # the third line repeats the second
    rows = json.loads(second.stdout)["reports"]
    assert [(r["seq"], r["accepted"], r["created_snapshot"]) for r in rows] == [
        (2, True, False),
        (3, True, True),
        (3, False, False),
    ]
    assert rows[2]["reason"] == "replayed"
    with Inventory.open(db) as inv:
        assert count(inv, "SELECT COUNT(*) FROM reports WHERE transport = 'import'") == 3
        latest = inv.latest(IMEI)
        assert latest is not None and latest.source == "report" and len(latest.entries) == 1
    mismatch = runner.invoke(app, ["inventory", "import", str(report), "--db", db, "--device", "352656100367880"])
    assert mismatch.exit_code == 5 and "imei-mismatch" in mismatch.stdout
    capture = tmp_path / "capture.txt"
    capture.write_text('%CMNG: 1,0,"' + sha(9) + '"\nOK\n')
    no_device = runner.invoke(app, ["inventory", "import", str(capture), "--db", db])
    assert no_device.exit_code == 2
