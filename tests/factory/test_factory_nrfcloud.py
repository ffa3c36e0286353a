"""nRF Cloud onboarding CSV rows: format, replace-on-rerun, limits, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from credwarden.errors import ValidationError
from credwarden.factory import nrfcloud

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n"


def test_rows_are_the_documented_five_columns(tmp_path: Path) -> None:
    path = tmp_path / "onboard.csv"
    nrfcloud.add_device(path, nrfcloud.onboarding_row("nrf-351358811111111", PEM, tags=["line3", "b7"]))
    nrfcloud.add_device(path, nrfcloud.onboarding_row("uuid-2", PEM.replace("\n", "\r\n"), subtype="tracker"))
    text = path.read_text()
    assert text.startswith('nrf-351358811111111,,line3|b7,APP|MODEM,"-----BEGIN CERTIFICATE-----\nMIIB\n')
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert [r[:4] for r in rows] == [
        ["nrf-351358811111111", "", "line3|b7", "APP|MODEM"],
        ["uuid-2", "tracker", "", "APP|MODEM"],
    ]
    assert rows[1][4] == PEM  # CRLF normalised to LF


def test_rerun_replaces_the_row(tmp_path: Path) -> None:
    path = tmp_path / "onboard.csv"
    for _ in range(3):
        nrfcloud.add_device(path, nrfcloud.onboarding_row("dev-1", PEM))
    assert len(nrfcloud.read_rows(path)) == 1


def test_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nrfcloud, "MAX_ROWS", 2)
    path = tmp_path / "onboard.csv"
    nrfcloud.add_device(path, nrfcloud.onboarding_row("a", PEM))
    nrfcloud.add_device(path, nrfcloud.onboarding_row("b", PEM))
    with pytest.raises(ValidationError, match="already holds 2 devices"):
        nrfcloud.add_device(path, nrfcloud.onboarding_row("c", PEM))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device_id": "a,b"}, "device id"),
        ({"device_id": ""}, "device id"),
        ({"fw_types": ["APP", "FPGA"]}, "unknown firmware types"),
        ({"cert_pem": "garbage"}, "one PEM certificate"),
    ],
)
def test_bad_rows_are_rejected(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"device_id": "dev", "cert_pem": PEM}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        nrfcloud.onboarding_row(**args)  # type: ignore[arg-type]


def test_malformed_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "onboard.csv"
    path.write_text("only,three,columns\n")
    with pytest.raises(ValidationError, match="row 1 has 3 columns"):
        nrfcloud.add_device(path, nrfcloud.onboarding_row("a", PEM))
