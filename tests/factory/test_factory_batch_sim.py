"""Batches against simulated modems on real pseudo-terminals (tier 2).

One good board, one silent port, one board whose NVM loses an entry (verification fails): per-device rows,
inventory records, exit code; a rerun writes nothing; the keygen flow yields certificates that verify against
the local CA and carry the key the modem stores; watch mode provisions a board whose symlink appears.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.ca import LocalCA, chains_to
from credwarden.errors import ExitCode
from credwarden.factory.batch import run_batch
from credwarden.factory.job import DeviceJob
from credwarden.factory.results import Status
from credwarden.factory.station import Station
from credwarden.factory.view import JsonLinesView, PlainLineView
from credwarden.inventory.store import Inventory
from credwarden.provision.keygen import issued_cert_path
from credwarden.sim import SimConfig, SimModem
from credwarden.sim import engine as sim_engine
from credwarden.sim.config import luhn_check_digit


def _imei(n: int) -> str:
    body = f"35265610{n:06d}"
    return body + luhn_check_digit(body)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    ca = LocalCA.generate(tmp_path / "ca", "Line 3 Test CA")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "manifest.toml").write_text(
        '[[credential]]\nsec_tag = 10\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[credential]]\nsec_tag = 11\ntype = "root-ca"\nfile = "root.pem"\n'
        '[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "ca/ca-key.pem"\nvalidity_days = 30\n'
        'subject = "CN=nrf-{imei}"\nwrite_ca = true\n'
    )
    return tmp_path


@contextlib.contextmanager
def silent_pty() -> Iterator[str]:
    """A pseudo-terminal nobody answers on (a board that is plugged in but not running AT firmware)."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def _station(workdir: Path, ports: list[str], **kw: object) -> Station:
    values: dict[str, object] = {
        "name": "test-line",
        "manifest": workdir / "manifest.toml",
        "ports": ports,
        "inventory": str(workdir / "inv.db"),
        "detect_timeout": 0.5,
        "timeout": 60,
        "out_dir": workdir / "issued",
        "nrfcloud_csv": workdir / "onboard.csv",
    }
    values.update(kw)
    return Station.model_validate(values)


def _sim(n: int) -> SimModem:
    uuid = f"50363154-3931-44f0-8022-{n:012d}"
    return SimModem(SimConfig(profile="2.0.2", fast=True, imei=_imei(n), device_uuid=uuid))


def test_batch_rows_inventory_exit_code_and_idempotent_rerun(workdir: Path) -> None:
    good, lossy = _sim(1), _sim(2)
    lossy.faults.wipe_tag = 10  # tag 10 vanishes after the next NVM write elsewhere: verification must fail
    lossy.faults.wipe_after = 1
    with good, lossy, good.serve_pty() as p_good, lossy.serve_pty() as p_lossy, silent_pty() as p_silent:
        station = _station(workdir, [p_good, p_silent, p_lossy])
        out = io.StringIO()
        report = run_batch(station, view=JsonLinesView(out))
        rows = {row["port"]: row for row in map(json.loads, out.getvalue().splitlines())}
        assert set(rows) == {p_good, p_silent, p_lossy}
        assert report.exit_code is ExitCode.FAILURE

        ok = rows[p_good]
        assert ok["ok"] is True and ok["status"] == "applied" and ok["imei"] == _imei(1) and ok["error"] is None
        assert ok["uuid"] and ok["bytes_out"] > 1000 and ok["bytes_in"] > 100 and ok["elapsed_s"] > 0
        assert {(a["sec_tag"], a["type"], a["status"]) for a in ok["actions"]} >= {
            (10, 0, "written"),
            (11, 0, "written"),
            (42, 2, "generated"),
            (42, 1, "written"),
            (42, 0, "written"),
        }

        silent = rows[p_silent]
        assert silent["status"] == "no_answer" and silent["ok"] is False and "no answer" in silent["error"]
        assert silent["imei"] is None

        lossy_row = rows[p_lossy]
        assert lossy_row["status"] == "verify_failed" and lossy_row["ok"] is False
        assert lossy_row["imei"] == _imei(2)

        # the private key never shows up in a row
        assert "PRIVATE KEY" not in out.getvalue()

        with Inventory.open(str(workdir / "inv.db")) as inv:
            assert sorted(d.imei for d in inv.devices()) == [_imei(1), _imei(2)]
            _items, runs = inv.history(_imei(1))
            assert [r.ok for r in runs] == [True] and runs[0].station == "test-line"
            # the apply snapshot knows when the root CAs it wrote expire (for `inventory drift --days`)
            latest = inv.latest(_imei(1))
            assert latest is not None and latest.source == "apply"
            not_after = {(e.sec_tag, e.type): e.not_after for e in latest.entries}
            expected = LocalCA.load(workdir / "ca" / "ca.pem", workdir / "ca" / "ca-key.pem").certificate
            assert not_after[(10, 0)] == not_after[(11, 0)] == expected.not_valid_after_utc
            _items, runs = inv.history(_imei(2))
            assert [r.ok for r in runs] == [False]

        # rerun: the good board is already in the desired state -> zero NVM writes
        writes_before = sum(good.store.writes_of(t, c) for t, c in ((10, 0), (11, 0), (42, 0), (42, 1), (42, 2)))
        again = run_batch(_station(workdir, [p_good]), view=JsonLinesView(io.StringIO()))
        assert [r.status for r in again.results] == [Status.UNCHANGED]
        assert again.exit_code is ExitCode.OK
        writes_after = sum(good.store.writes_of(t, c) for t, c in ((10, 0), (11, 0), (42, 0), (42, 1), (42, 2)))
        assert writes_after == writes_before

    # onboarding CSV: a row for the good board (rows come in completion order)
    rows_csv = (workdir / "onboard.csv").read_text()
    assert f'nrf-{_imei(1)},,,APP|MODEM,"-----BEGIN CERTIFICATE-----' in rows_csv


def test_keygen_certificate_verifies_and_matches_the_modem_key(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sim keeps only the digest of a private key (like the modem, it never gives it out): remember the keys
    # it generates to compare the stored digest and the certificate's public key with them.
    generated: list[ec.EllipticCurvePrivateKey] = []
    original = sim_engine.ec.generate_private_key

    def capture(curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
        key = original(curve)
        generated.append(key)
        return key

    monkeypatch.setattr(sim_engine.ec, "generate_private_key", capture)
    sim = _sim(3)
    with sim, sim.serve_pty() as port:
        report = run_batch(_station(workdir, [port], nrfcloud_csv=None), view=PlainLineView(io.StringIO()))
        assert report.exit_code is ExitCode.OK, report.results[0].error
        stored_key = sim.store.get(42, 2)
        stored_cert = sim.store.get(42, 1)
    assert stored_key is not None and stored_cert is not None
    cert = x509.load_pem_x509_certificate(issued_cert_path(workdir / "issued", _imei(3), 42).read_bytes())
    ca = x509.load_pem_x509_certificate((workdir / "ca/ca.pem").read_bytes())
    assert chains_to(cert, ca)
    (modem_key,) = generated
    pkcs8 = modem_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert stored_key.sha == hashlib.sha256(pkcs8).hexdigest().upper()  # this is the key the modem stores
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == modem_key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    )
    assert x509.load_pem_x509_certificate(stored_cert.content).serial_number == cert.serial_number
    assert cert.subject.rfc4514_string() == f"CN=nrf-{_imei(3)}"


def test_watch_mode_provisions_a_board_that_appears(workdir: Path) -> None:
    by_id = workdir / "by-id"
    by_id.mkdir()
    sim = _sim(4)
    stop = threading.Event()
    out = io.StringIO()
    station = _station(workdir, [], glob=[str(by_id / "*Nordic*")], watch=True, poll_interval=0.05, nrfcloud_csv=None)
    holder: dict[str, object] = {}

    def run() -> None:
        holder["report"] = run_batch(station, view=PlainLineView(out), stop=stop)

    with sim, sim.serve_pty() as port:
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.2)  # the watcher is polling and has seen nothing yet
        link = by_id / "usb-Nordic_Semiconductor_nRF9151-if00"
        link.symlink_to(port)
        deadline = time.monotonic() + 20
        while "done" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(20)
    report = holder["report"]
    from credwarden.factory.batch import BatchReport

    assert isinstance(report, BatchReport)
    assert [r.port for r in report.results] == [str(link)]
    assert report.results[0].status is Status.APPLIED
    assert report.exit_code is ExitCode.OK
    assert f"{link}: done" in out.getvalue() and "summary: 1 device: 1 ok" in out.getvalue()


def test_job_validates_everything_before_any_device(workdir: Path) -> None:
    from credwarden.errors import ValidationError

    (workdir / "manifest.toml").write_text('[[keygen]]\nsec_tag = 42\nca_cert = "ca/ca.pem"\nca_key = "nope.pem"\n')
    with pytest.raises(ValidationError, match=r"nope\.pem"):
        DeviceJob.from_station(_station(workdir, ["/dev/null"]))
