"""at_client front-end basics through a real pty: identity, CMEE, CFUN, %CMNG list/write/read/delete."""

from __future__ import annotations

import hashlib

import serial
from tests.sim.rawclient import RawPort

from credwarden.sim import SimModem
from credwarden.transport.simulated import inprocess

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_identity_commands(sim_pty: tuple[SimModem, str]) -> None:
    sim, path = sim_pty
    with RawPort(path) as port:
        assert port.command("AT") == b"OK\r\n"
        imei = sim.identity.imei
        assert port.command("AT+CGSN") == imei.encode() + b"\r\nOK\r\n"
        assert port.command("AT+CGSN=1") == b'+CGSN: "' + imei.encode() + b'"\r\nOK\r\n'
        assert port.command("AT+CGMR") == b"mfw_nrf9160_1.3.5\r\nOK\r\n"
        assert port.command("AT+CGMM") == b"nRF9160-SICA\r\nOK\r\n"
        assert port.command("AT%XMODEMUUID") == f"%XMODEMUUID: {sim.engine.profile.build_uuid}\r\nOK\r\n".encode()


def test_cmee_and_cfun(sim_pty: tuple[SimModem, str]) -> None:
    _, path = sim_pty
    with RawPort(path) as port:
        assert port.command("AT+CFUN?") == b"+CFUN: 4\r\nOK\r\n"
        assert port.command("AT+CMEE?") == b"+CMEE: 0\r\nOK\r\n"
        assert port.command("AT%CMNG=2,7,0") == b"ERROR\r\n"
        assert port.command("AT+CMEE=1") == b"OK\r\n"
        assert port.command("AT%CMNG=2,7,0") == b"+CME ERROR: 513\r\n"
        assert port.command("AT+CMEE=2") == b"ERROR\r\n"  # 1.x firmware
        assert port.command("AT+CFUN=1") == b"OK\r\n"
        assert port.command(b'AT%CMNG=0,7,0,"' + PEM + b'"') == b"+CME ERROR: 518\r\n"
        assert port.command("AT+CFUN=4") == b"OK\r\n"
        assert port.command("AT+CFUN=?") == b"+CFUN: (0,1,2,4,20,21,30,31,40,41,44)\r\nOK\r\n"


def test_write_list_read_delete_byte_exact(sim_pty: tuple[SimModem, str]) -> None:
    sim, path = sim_pty
    digest = hashlib.sha256(PEM).hexdigest().upper().encode()
    with RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command(b'AT%CMNG=0,42,0,"' + PEM + b'"') == b"OK\r\n"
        listing = port.command("AT%CMNG=1")
        assert listing.startswith(b'%CMNG: 42,0,"' + digest + b'"\r\n')
        assert listing.endswith(b'%CMNG: 4294967292,11,"' + sim.store.get(4294967292, 11).sha.encode() + b'"\r\nOK\r\n')
        assert port.command("AT%CMNG=1,42,0") == b'%CMNG: 42,0,"' + digest + b'"\r\nOK\r\n'
        assert port.command("AT%CMNG=1,43") == b"OK\r\n"  # missing is not an error for list
        assert port.command("AT%CMNG=2,42,0") == b'%CMNG: 42,0,"' + digest + b'","' + PEM + b'"\r\nOK\r\n'
        assert port.command(b'AT%CMNG=0,42,2,"secret-key"') == b"OK\r\n"
        assert port.command("AT%CMNG=2,42,2") == b"+CME ERROR: 514\r\n"
        assert port.command("AT%CMNG=3,42,0") == b"OK\r\n"
        assert port.command("AT%CMNG=3,42,0") == b"+CME ERROR: 513\r\n"
        key_digest = hashlib.sha256(b"secret-key").hexdigest().upper().encode()
        assert port.command("AT%CMNG=1,42") == b'%CMNG: 42,2,"' + key_digest + b'"\r\nOK\r\n'
    assert sim.store.writes_of(42, 0) == 1
    assert sim.store.counters[(42, 0)].deletes == 1


def test_pyserial_client_reconnects(sim_pty: tuple[SimModem, str]) -> None:
    _, path = sim_pty
    for _ in range(3):
        with serial.Serial(path, 115200, timeout=2, rtscts=True) as port:
            port.write(b"AT+CGMM\r\n")
            assert port.read_until(b"OK\r\n") == b"nRF9160-SICA\r\nOK\r\n"


def test_inprocess_transport(sim: SimModem) -> None:
    transport = inprocess(sim)
    try:
        transport.write(b"AT+CFUN?\r")
        data = b""
        while not data.endswith(b"OK\r\n"):
            chunk = transport.read(100, 2.0)
            assert chunk, "no answer"
            data += chunk
        assert data == b"+CFUN: 4\r\nOK\r\n"
        assert transport.read(100, 0.05) == b""
    finally:
        transport.close()
