"""The README's C snippet, compiled on the host with a stub `nrf_modem_at_cmd`, produces reports the collector
parses and stores: a normal list, and one that overflows the answer buffer (E2BIG: incomplete, never a loss)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import IMEI, sha

from credwarden.collect.pipeline import ReportPipeline
from credwarden.inventory import Inventory
from credwarden.inventory.field_reports import IncomingReport
from credwarden.report import parse_report

ROOT = Path(__file__).resolve().parents[2]
STUB = Path(__file__).parent / "c_stub"


def snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    marker = readme.index("<!-- cw1-snippet")
    match = re.search(r"```c\n(.*?)```", readme[marker:], re.S)
    assert match is not None, "the README's cw1-snippet block is missing"
    return match.group(1)


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc / cc) on this machine")
    work = tmp_path_factory.mktemp("csnippet")
    (work / "cw1.c").write_text(snippet())
    binary = work / "cw1"
    subprocess.run(
        [compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(STUB), str(work / "cw1.c"),
         str(STUB / "stub.c"), "-o", str(binary)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return binary


def run(program: Path, cmng: str) -> str:
    env = dict(os.environ, STUB_CMNG=cmng)
    return subprocess.run([str(program), IMEI], check=True, capture_output=True, env=env).stdout.decode("ascii")


def test_snippet_output_is_a_valid_report(program: Path, tmp_path: Path) -> None:
    lines = "".join(f'%CMNG: {tag},{code},"{sha(n)}"\r\n' for n, (tag, code) in enumerate([(42, 0), (42, 1), (42, 2)]))
    text = run(program, lines + "OK\r\n")
    assert text.startswith(f"CW/1 imei={IMEI} seq=17 up=86400 app=1.4.0\r\n")
    report = parse_report(text)
    assert report.firmware == "mfw_nrf9160_1.3.5" and report.list_status == "complete"
    assert report.listing is not None and [(e.sec_tag, e.type) for e in report.listing.entries] == [
        (42, 0),
        (42, 1),
        (42, 2),
    ]
    with Inventory.open(str(tmp_path / "inv.db")) as inv:
        [stored] = ReportPipeline(inv).process([IncomingReport(report, "http", datetime.now(UTC))]).stored
        assert stored.accepted and stored.created_snapshot


def test_snippet_buffer_overflow_is_an_incomplete_list(program: Path) -> None:
    many = "".join(f'%CMNG: {tag},0,"{sha(tag)}"\r\n' for tag in range(60))  # ~5 KiB: over the 4 KiB buffer
    report = parse_report(run(program, many + "OK\r\n"))
    assert report.list_status == "incomplete" and report.listing is not None and report.listing.error == "-7"
