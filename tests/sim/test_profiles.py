"""Firmware profiles (modem-behaviour.md#firmware-generations): digests, factory entries, validation, decrypt tags,
KEYGEN/ATTESTTOKEN/CERTEXPIRY."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from tests.conftest import MakeSim
from tests.sim.certs import make_cert_pem
from tests.sim.rawclient import RawPort

from credwarden.sim import SimConfig
from credwarden.sim.config import is_valid_imei, profile_for
from credwarden.sim.identity import DEFAULT_IDENTITY


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_old_firmware_placeholders_no_validation_no_keygen(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.0.3")
    with sim.serve_pty() as path, RawPort(path) as port:
        assert port.command("AT+CGMR") == b"mfw_nrf9160_1.0.3\r\nOK\r\n"
        assert port.command('AT%CMNG=0,64738,0,"HONKHONK"') == b"OK\r\n"
        assert port.command('AT%CMNG=0,64738,2,"key"') == b"OK\r\n"
        assert port.command("AT%CMNG=1") == (
            b'%CMNG: 64738,0,"' + b"00" * 32 + b'"\r\n%CMNG: 64738,2,"' + b"02" * 32 + b'"\r\nOK\r\n'
        )
        assert port.command("AT%CMNG=2,64738,0") == b'%CMNG: 64738,0,"' + b"00" * 32 + b'","HONKHONK"\r\nOK\r\n'
        assert port.command("AT%KEYGEN=1,2,0") == b"ERROR\r\n"
        assert port.command("AT%XPOFWARN=1,30") == b"ERROR\r\n"


def test_135_factory_entries_are_protected(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5")
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        listing = port.command("AT%CMNG=1")
        tags = [line.split(b",")[0] for line in listing.split(b"\r\n") if line.startswith(b"%CMNG")]
        assert tags == [b"%CMNG: 4294967293", b"%CMNG: 4294967294", b"%CMNG: 4294967292"]
        assert port.command("AT%CMNG=2,4294967293,10") == b"+CME ERROR: 514\r\n"
        assert port.command("AT%CMNG=3,4294967294,6") == b"+CME ERROR: 514\r\n"
        assert port.command('AT%CMNG=0,2147483648,0,"x"') == b"+CME ERROR: 514\r\n"  # no decrypt tags on 1.x
        assert port.command('AT%CMNG=0,1,0,""') == b"+CME ERROR: 50\r\n"
        assert port.command("AT%CMNG=0,1,0") == b"+CME ERROR: 50\r\n"
        assert port.command("AT%CMNG=4") == b"+CME ERROR: 50\r\n"
        assert port.command("AT%CMNG=1,,0") == b"+CME ERROR: 50\r\n"
        assert port.command("AT%CMNG?") == b"ERROR\r\n"
        assert port.command("AT%CMNG=2,4294967296,0") == b"+CME ERROR: 50\r\n"


def test_202_validates_certificates(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2")
    pem = make_cert_pem()
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command("AT+CGMM") == b"nRF9151-LACA\r\nOK\r\n"
        assert port.command(b'AT%CMNG=0,5,0,"' + pem + b'"') == b"OK\r\n"
        assert port.command(b'AT%CMNG=0,5,0,"' + pem.replace(b"\n", b"\\n") + b'"') == b"+CME ERROR: 527\r\n"
        assert port.command(b'AT%CMNG=0,5,1,"garbage"') == b"+CME ERROR: 527\r\n"
        assert port.command(b'AT%CMNG=0,5,2,"not validated"') == b"OK\r\n"
        assert port.command(b'AT%CMNG=0,5,0,"' + pem.replace(b"\n", b"\r\n") + b'"') == b"OK\r\n"
        assert port.command(b'AT%CMNG=0,2147483650,0,"' + pem + b'"') == b"OK\r\n"  # TLS-decrypt tag
        assert port.command("AT+CMEE=2") == b"OK\r\n"
        uuid_line = port.command("AT%DEVICEUUID")
        assert uuid_line.startswith(b"%DEVICEUUID: ") and uuid_line.endswith(b"\r\nOK\r\n")


def test_202_crlf_rejection_is_an_option(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2", reject_crlf_certificates=True)
    pem = make_cert_pem()
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command(b'AT%CMNG=0,5,0,"' + pem.replace(b"\n", b"\r\n") + b'"') == b"+CME ERROR: 527\r\n"


def test_keygen_stores_unreadable_key_and_returns_csr(make_sim: MakeSim) -> None:
    sim = make_sim(profile="2.0.2", keygen_null_param_defect=False)  # the RFC 5758 form strict parsers accept
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        answer = port.command('AT%KEYGEN=16842753,2,0,"CN=nrf-352656100367872"')
        assert answer.startswith(b'%KEYGEN: "') and answer.endswith(b'"\r\nOK\r\n')
        csr_part = answer.split(b'"')[1].split(b".")[0].decode()
        csr = x509.load_der_x509_csr(_b64url(csr_part))
        assert csr.subject.rfc4514_string() == "CN=nrf-352656100367872"
        assert csr.is_signature_valid
        assert port.command("AT%CMNG=2,16842753,2") == b"+CME ERROR: 514\r\n"
        assert port.command("AT%CMNG=1,16842753,2").startswith(b'%CMNG: 16842753,2,"')
        assert port.command('AT%CMNG=0,16842753,2,"overwrite"') == b"+CME ERROR: 519\r\n"
        assert port.command("AT%KEYGEN=16842753,2,0") == b"+CME ERROR: 519\r\n"
        port.command("AT+CFUN=1")
        assert port.command("AT%KEYGEN=7,2,0") == b"+CME ERROR: 518\r\n"
        port.command("AT+CFUN=4")
        default_cn = port.command("AT%KEYGEN=7,2,0").split(b'"')[1].split(b".")[0].decode()
        subject = x509.load_der_x509_csr(_b64url(default_cn)).subject.rfc4514_string()
        assert subject == f"CN={sim.identity.device_uuid}"
    entry = sim.store.get(16842753, 2)
    assert entry is not None and entry.origin == "keygen" and entry.content is None


def test_attesttoken_and_certexpiry(make_sim: MakeSim) -> None:
    sim = make_sim(profile="1.3.5")
    pem = make_cert_pem(days=10)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        token = port.command("AT%ATTESTTOKEN")
        assert token.startswith(b'%ATTESTTOKEN: "') and token.count(b".") == 1
        assert port.command('AT%ATTESTTOKEN="00112233445566778899AABBCCDDEEFF"').endswith(b"OK\r\n")
        assert port.command('AT%ATTESTTOKEN="short"') == b"+CME ERROR: 50\r\n"
        assert port.command(b'AT%CMNG=0,3,0,"' + pem + b'"') == b"OK\r\n"
        assert port.command("AT%CERTEXPIRY=3,0") == b"%CERTEXPIRY: 1234ABCD,20240101000000Z,20240111000000Z\r\nOK\r\n"
        assert port.command("AT%CERTEXPIRY=4,0") == b"+CME ERROR: 513\r\n"
        assert port.command(b'AT%CMNG=0,3,1,"junk"') == b"OK\r\n"
        assert port.command("AT%CERTEXPIRY=3,1") == b"+CME ERROR: 527\r\n"
        assert port.command("AT%CERTEXPIRY=4294967293,10").startswith(b"%CERTEXPIRY: ")


def test_profile_parsing_and_identity_defaults() -> None:
    assert profile_for("mfw_nrf91x1_2.0.2").validates_certificates
    assert not profile_for("2.0.0").validates_certificates
    assert not profile_for("1.2.3").real_digests
    assert profile_for("1.3.5").firmware == "mfw_nrf9160_1.3.5"
    assert is_valid_imei(DEFAULT_IDENTITY.imei) and SimConfig().imei is None
    with pytest.raises(ValueError, match="Luhn"):
        SimConfig(imei="352656100367873")
    with pytest.raises(ValueError, match="profile"):
        SimConfig(profile="banana")


def test_capacity_limits_give_515(make_sim: MakeSim) -> None:
    sim = make_sim(max_entries=2, max_total_bytes=10)
    with sim.serve_pty() as path, RawPort(path) as port:
        port.command("AT+CMEE=1")
        assert port.command('AT%CMNG=0,1,4,"12345"') == b"OK\r\n"
        assert port.command('AT%CMNG=0,1,4,"1234567890"') == b"OK\r\n"  # overwrite: own size not counted
        assert port.command('AT%CMNG=0,2,4,"1"') == b"+CME ERROR: 515\r\n"
        assert port.command('AT%CMNG=0,1,4,"12345"') == b"OK\r\n"
        assert port.command('AT%CMNG=0,2,4,"1"') == b"OK\r\n"
        assert port.command('AT%CMNG=0,3,4,"1"') == b"+CME ERROR: 515\r\n"
    assert hashlib.sha256(b"12345").hexdigest().upper() == sim.store.get(1, 4).sha
