"""nRF Cloud bulk-onboarding CSV (`--nrfcloud-csv FILE`).

Format, as the nRF Cloud `ProvisionDevices` (onboard devices) endpoint takes it and as Nordic's
nrfcloud-utils (`device_credentials_installer`, `nrf_cloud_onboard`) write and read it: no header row, one
device per row, five columns

    <device id>,<subtype>,<tags>,<fw types>,"<certificate PEM>"

`tags` and `fw types` are pipe-separated (`line3|batch7`, `APP|MODEM`; the FOTA types are APP, MODEM, BOOT,
SOFTDEVICE, BOOTLOADER), subtype and tags may be empty, the PEM is quoted and keeps its line breaks. At most
1000 rows per file (the endpoint's limit). The device id is the certificate's subject CN (the modem's UUID
by default, or e.g. `nrf-<IMEI>`). A device already in the file has its row replaced, so re-running a batch
does not duplicate rows.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from credwarden.errors import ValidationError

#: Rows nRF Cloud accepts per onboarding call (nrfcloud-utils MAX_CSV_ROWS).
MAX_ROWS = 1000
#: FOTA firmware types nRF Cloud knows.
FW_TYPES = frozenset({"APP", "MODEM", "BOOT", "SOFTDEVICE", "BOOTLOADER"})

_lock = threading.Lock()


def onboarding_row(
    device_id: str,
    cert_pem: str,
    *,
    subtype: str = "",
    tags: Sequence[str] = (),
    fw_types: Sequence[str] = ("APP", "MODEM"),
) -> list[str]:
    """The five columns of one device (validated)."""
    if not device_id or any(c in device_id for c in ',"\r\n'):
        raise ValidationError(f"device id {device_id!r} cannot go into an onboarding CSV", source="nrfcloud")
    unknown = [t for t in fw_types if t not in FW_TYPES]
    if unknown:
        raise ValidationError(f"unknown firmware types {unknown}; use {sorted(FW_TYPES)}", source="nrfcloud")
    if "-----BEGIN CERTIFICATE-----" not in cert_pem or '"' in cert_pem:
        raise ValidationError("the onboarding certificate must be one PEM certificate", source="nrfcloud")
    return [device_id, subtype, "|".join(tags), "|".join(fw_types), cert_pem.replace("\r\n", "\n")]


def read_rows(path: Path) -> list[list[str]]:
    """The rows of an existing onboarding CSV (empty when the file does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    for number, row in enumerate(rows, start=1):
        if len(row) != 5:
            raise ValidationError(f"row {number} has {len(row)} columns, expected 5", source=str(path))
    return rows


def _render(rows: list[list[str]]) -> str:
    out = io.StringIO()
    for row in rows:
        # The certificate is always quoted (the endpoint's documented form); the short columns never need it.
        out.write(",".join(row[:4]) + ',"' + row[4] + '"\n')
    return out.getvalue()


def add_device(path: Path, row: list[str]) -> None:
    """Add (or replace) one device's row; thread-safe within the process, atomic on disk."""
    with _lock:
        rows = [r for r in read_rows(path) if r[0] != row[0]]
        if len(rows) >= MAX_ROWS:
            raise ValidationError(
                f"the onboarding CSV already holds {MAX_ROWS} devices (nRF Cloud's limit per file); start a new file",
                source=str(path),
            )
        rows.append(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(_render(rows), encoding="utf-8")
        os.replace(tmp, path)
