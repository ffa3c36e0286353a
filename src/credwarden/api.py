"""The public Python API.

    import credwarden.api as cw
    with cw.connect("/dev/ttyACM0") as dev:
        print(dev.info().imei)
        for entry in dev.list():
            print(entry.sec_tag, entry.type_name, entry.sha256)

`connect()` accepts the same port strings as the CLI (paths, pyserial URLs, `sim://`, `auto`).
"""

from __future__ import annotations

from credwarden.at.response import AtResponse
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.models import (
    AttestationToken,
    CertExpiry,
    DeleteOutcome,
    DeviceInfo,
    KeygenResult,
    ReadResult,
    SessionStats,
    StoredEntry,
)
from credwarden.modem.device import Device
from credwarden.provision import ApplyReport, Manifest, Plan, apply, load_manifest, plan
from credwarden.transport.base import Transport, open_transport

__all__ = [
    "ApplyReport",
    "AtResponse",
    "AttestationToken",
    "CertExpiry",
    "DeleteOutcome",
    "Device",
    "DeviceInfo",
    "KeygenResult",
    "Manifest",
    "Plan",
    "ReadResult",
    "SessionStats",
    "StoredEntry",
    "TimeoutPolicy",
    "Transport",
    "apply",
    "connect",
    "load_manifest",
    "open_transport",
    "plan",
]


def connect(
    port: str,
    mode: str = "auto",
    baud: int = 115200,
    flow_control: bool = False,
    timeout: float | None = None,
    timeouts: TimeoutPolicy | None = None,
) -> Device:
    """Open a session with the modem on `port` (use as a context manager to close it).

    `timeout` sets the base timeout; `timeouts` a whole `TimeoutPolicy` (e.g. `TimeoutPolicy().scaled(0.2)`).
    """
    return Device.open(port, mode=mode, baud=baud, flow_control=flow_control, timeout=timeout, timeouts=timeouts)
