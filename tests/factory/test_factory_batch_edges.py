"""Batch edge cases against simulators on ptys: per-IMEI files, a hung board, secrets kept out of rows."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from credwarden.errors import ExitCode
from credwarden.factory.batch import run_batch
from credwarden.factory.results import Status
from credwarden.factory.station import Station
from credwarden.factory.view import JsonLinesView
from credwarden.inventory.store import Inventory
from credwarden.sim import SimConfig, SimModem
from credwarden.sim.config import luhn_check_digit


def _imei(n: int) -> str:
    body = f"35265640{n:06d}"
    return body + luhn_check_digit(body)


def _run(station: Station) -> tuple[list[dict[str, object]], ExitCode, str]:
    out = io.StringIO()
    report = run_batch(station, view=JsonLinesView(out))
    return [json.loads(line) for line in out.getvalue().splitlines()], report.exit_code, out.getvalue()


def test_each_board_gets_its_own_templated_file(tmp_path: Path) -> None:
    (tmp_path / "ids").mkdir()
    for n in (1, 2):
        (tmp_path / "ids" / f"{_imei(n)}.txt").write_text(f"device-{n}\n")
    (tmp_path / "m.toml").write_text('[[credential]]\nsec_tag = 5\ntype = "psk-identity"\nfile = "ids/{imei}.txt"\n')
    sims = [SimModem(SimConfig(profile="2.0.2", fast=True, imei=_imei(n))) for n in (1, 2, 3)]
    with sims[0], sims[1], sims[2], sims[0].serve_pty() as p1, sims[1].serve_pty() as p2, sims[2].serve_pty() as p3:
        rows, code, _ = _run(Station(manifest=tmp_path / "m.toml", ports=[p1, p2, p3], record=False))
        assert sims[0].execute("AT%CMNG=2,5,4").count("device-1") == 1
        assert sims[1].execute("AT%CMNG=2,5,4").count("device-2") == 1
    by_port = {r["port"]: r for r in rows}
    assert by_port[p1]["status"] == by_port[p2]["status"] == "applied"
    # the third board has no file of its own: its row says so, the others are unaffected
    assert by_port[p3]["status"] == "invalid" and _imei(3) in str(by_port[p3]["error"])
    assert code is ExitCode.FAILURE


def test_a_hung_board_times_out_without_holding_the_others(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        '[[credential]]\nsec_tag = 5\ntype = "psk-identity"\nvalue = "' + "x" * 200 + '"\n'
    )
    good, hung = (SimModem(SimConfig(profile="2.0.2", fast=True, imei=_imei(n))) for n in (4, 5))
    hung.faults.hang_above = 100  # the write never answers
    with good, hung, good.serve_pty() as p_good, hung.serve_pty() as p_hung:
        started = time.monotonic()
        rows, code, _ = _run(Station(manifest=tmp_path / "m.toml", ports=[p_hung, p_good], record=False, timeout=1.5))
        elapsed = time.monotonic() - started
    by_port = {r["port"]: r for r in rows}
    assert by_port[p_good]["status"] == "applied"
    assert by_port[p_hung]["status"] == Status.TIMEOUT.value and "1.5 s" in str(by_port[p_hung]["error"])
    assert code is ExitCode.FAILURE
    assert elapsed < 10


def test_secrets_never_reach_rows_or_the_inventory(tmp_path: Path) -> None:
    psk = "00112233445566778899aabbccddeeff"
    (tmp_path / "m.toml").write_text(
        f'[[credential]]\nsec_tag = 6\ntype = "psk"\nvalue = "{psk}"\n'
        '[[credential]]\nsec_tag = 6\ntype = "psk-identity"\nvalue = "dev-6"\n'
    )
    sim = SimModem(SimConfig(profile="2.0.2", fast=True, imei=_imei(6)))
    with sim, sim.serve_pty() as port:
        rows, code, text = _run(Station(manifest=tmp_path / "m.toml", ports=[port], inventory=str(tmp_path / "inv.db")))
    assert code is ExitCode.OK and rows[0]["status"] == "applied"
    assert psk not in text and psk.upper() not in text
    assert psk.encode() not in (tmp_path / "inv.db").read_bytes()
    with Inventory.open(str(tmp_path / "inv.db")) as inv:
        latest = inv.latest(_imei(6))
        assert latest is not None and {(e.sec_tag, e.type) for e in latest.entries} >= {(6, 3), (6, 4)}


def test_an_abandoned_board_never_writes_to_a_closed_inventory(tmp_path: Path) -> None:
    """A job the runner gave up on (timeout, Ctrl-C) that reaches its inventory record late skips it: no write after
    the batch closed the inventory, no record contradicting the row the runner already printed."""
    from credwarden.factory.job import DeviceJob
    from credwarden.factory.results import DeviceResult
    from credwarden.factory.runner import JobContext
    from credwarden.models import DeviceInfo

    manifest = tmp_path / "m.toml"
    manifest.write_text('[[credential]]\nsec_tag = 7\ntype = "psk-identity"\nvalue = "dev-1"\n')
    job = DeviceJob.from_station(Station(manifest=manifest, inventory=str(tmp_path / "inv.db")))
    calls: list[str] = []

    class Recorder:
        def record_apply(self, *_args: object, **_kwargs: object) -> None:
            calls.append("apply")

        def close(self) -> None:
            calls.append("close")

    assert job.inventory is not None
    job.inventory.close()
    job.inventory = Recorder()
    info = DeviceInfo.__new__(DeviceInfo)
    row = DeviceResult("/dev/x", Status.TIMEOUT)
    ctx = JobContext("/dev/x", 5.0, lambda _event: None)
    ctx.cancel()
    job._record(None, info, row, None, list_now=False, ctx=ctx)  # type: ignore[arg-type]
    assert calls == []  # cancelled: not recorded
    job.close()
    job._record(None, info, row, None, list_now=False)  # type: ignore[arg-type]
    assert calls == ["close"]  # closed: not recorded either
