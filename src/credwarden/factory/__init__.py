"""The factory line: many devices in parallel, live progress, a result row per device (README "Factory line").

from credwarden.factory import Station, run_batch
report = run_batch(Station(manifest=Path("manifest.toml"), glob=["/dev/serial/by-id/*Nordic*"]))
for row in report.results:
    print(row.to_json())
"""

from __future__ import annotations

from credwarden.factory.batch import BatchReport, run_batch
from credwarden.factory.results import BatchSummary, DeviceResult, Stage, Status
from credwarden.factory.runner import BatchRunner, JobContext, ProgressEvent
from credwarden.factory.station import Station, load_station

__all__ = [
    "BatchReport",
    "BatchRunner",
    "BatchSummary",
    "DeviceResult",
    "JobContext",
    "ProgressEvent",
    "Stage",
    "Station",
    "Status",
    "load_station",
    "run_batch",
]
