"""Port globbing / watching, station files, and the plain / JSON-lines views."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest

from credwarden.errors import ValidationError
from credwarden.factory.ports import PortWatcher, expand_ports, match_globs
from credwarden.factory.results import BatchSummary, DeviceResult, Stage, Status
from credwarden.factory.runner import ProgressEvent
from credwarden.factory.station import Station, load_station
from credwarden.factory.view import JsonLinesView, PlainLineView, choose_view


def _touch(path: Path) -> Path:
    path.write_text("")
    return path


def test_expand_ports_dedupes_symlinks_and_skips_dangling(tmp_path: Path) -> None:
    dev = _touch(tmp_path / "ttyACM0")
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-Nordic_A").symlink_to(dev)
    (by_id / "usb-Nordic_B").symlink_to(tmp_path / "gone")  # dangling: board unplugged
    ports = expand_ports([str(dev), "socket://127.0.0.1:1"], [str(by_id / "*Nordic*")])
    assert ports == [str(dev), "socket://127.0.0.1:1"]
    assert match_globs([str(by_id / "*")]) == [str(by_id / "usb-Nordic_A")]


def test_watcher_reports_appear_and_reappear(tmp_path: Path) -> None:
    watcher = PortWatcher([str(tmp_path / "dev*")], interval=0.01)
    assert watcher.poll() == ([], [])
    link = tmp_path / "dev1"
    link.symlink_to(_touch(tmp_path / "real1"))
    assert watcher.poll() == ([str(link)], [])
    assert watcher.poll() == ([], [])
    link.unlink()
    assert watcher.poll() == ([], [str(link)])
    link.symlink_to(tmp_path / "real1")
    assert watcher.poll() == ([str(link)], [])


def test_watcher_wait_returns_on_stop_or_timeout(tmp_path: Path) -> None:
    watcher = PortWatcher([str(tmp_path / "x*")], interval=0.01)
    stop = threading.Event()
    assert watcher.wait_for_new(stop, timeout=0.05) == []
    stop.set()
    assert watcher.wait_for_new(stop) == []
    with pytest.raises(ValueError):
        PortWatcher([])


def test_station_file_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text(
        'name = "line-3"\nmanifest = "m.toml"\nglob = "by-id/*Nordic*"\ninventory = "inv.db"\n'
        'concurrency = 4\ntimeout = 60\nout_dir = "issued"\n[nrfcloud]\ntags = ["line3"]\n'
    )
    st = load_station(tmp_path / "station.toml")
    assert st.name == "line-3"
    assert st.manifest == tmp_path / "m.toml"
    assert st.glob == [str(tmp_path / "by-id/*Nordic*")]
    assert st.inventory == str(tmp_path / "inv.db")
    assert st.out_dir == tmp_path / "issued"
    assert st.nrfcloud.fw_types == ["APP", "MODEM"] and st.nrfcloud.tags == ["line3"]
    assert st.effective_concurrency(10) == 4
    assert Station().effective_concurrency(3) == 3
    assert st.with_overrides(timeout=5.0, baud=None).timeout == 5.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("concurrency = 0", "concurrency"),
        ("bogus = 1", "bogus"),
        ("timeout = -1", "timeout"),
        ("[nrfcloud]\ntags = ['a,b']", "nrfcloud.tags"),
        ("name = ", "not valid TOML"),
    ],
)
def test_station_file_errors_name_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValidationError) as info:
        load_station(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_missing_station_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        load_station(tmp_path / "nope.toml")


def test_plain_view_prints_one_line_per_stage_change() -> None:
    out = io.StringIO()
    view = PlainLineView(out)
    view(ProgressEvent("/dev/a", Stage.DETECT))
    view(ProgressEvent("/dev/a", Stage.DETECT, bytes_out=5))  # counters only: no new line
    view(ProgressEvent("/dev/a", Stage.WRITE, "1/2"))
    view(ProgressEvent("/dev/a", Stage.WRITE, "2/2"))
    result = DeviceResult("/dev/a", Status.NO_ANSWER, error="silent")
    view(ProgressEvent("/dev/a", Stage.FAILED, "no_answer", result=result))
    view.stop(BatchSummary.of([result]))
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["/dev/a: detect", "/dev/a: write 1/2", "/dev/a: write 2/2"]
    assert lines[3].startswith("/dev/a: failed (no_answer) imei=-") and lines[3].endswith("error=silent")
    assert lines[4] == "summary: 1 device: 0 ok (0 applied, 0 unchanged), 1 failed (no_answer 1)"


def test_json_view_prints_results_only() -> None:
    out = io.StringIO()
    view = JsonLinesView(out)
    view(ProgressEvent("p", Stage.DETECT))
    view(ProgressEvent("p", Stage.DONE, result=DeviceResult("p", Status.APPLIED, imei="1")))
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["status"] == "applied"


def test_choose_view() -> None:
    assert isinstance(choose_view(json_output=True, stream=io.StringIO()), JsonLinesView)
    assert isinstance(choose_view(json_output=False, stream=io.StringIO()), PlainLineView)


def test_live_view_renders_rows() -> None:
    from rich.console import Console

    from credwarden.factory.view import LiveTableView

    buf = io.StringIO()
    view = LiveTableView(Console(file=buf, force_terminal=True, width=140))
    view.start()
    view(ProgressEvent("/dev/ttyACM7", Stage.WRITE, "2/3", 1.5, 2048, 300))
    view(
        ProgressEvent(
            "/dev/ttyACM8",
            Stage.DONE,
            "",
            2.0,
            10,
            10,
            DeviceResult("/dev/ttyACM8", Status.UNCHANGED, imei="351358811111111"),
        )
    )
    view.stop(BatchSummary.of([DeviceResult("/dev/ttyACM8", Status.UNCHANGED)]))
    text = buf.getvalue()
    assert "/dev/ttyACM7" in text and "write 2/3" in text and "2.0k/300B" in text
    assert "351358811111111" in text and "1 ok" in text
    assert os.linesep in text
