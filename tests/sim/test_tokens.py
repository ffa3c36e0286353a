"""Simulator side of %KEYGEN / %ATTESTTOKEN / %CERTEXPIRY (modem-behaviour.md#keygen): encoders checked byte by byte."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from credwarden.sim.keygen import build_csr_der, parse_attributes
from credwarden.sim.tokens import (
    cert_expiry,
    cert_expiry_line,
    format_cert_expiry,
    make_attestation_token,
    make_keygen_response,
    parse_challenge,
)

DEVICE_UUID = uuid.UUID("50363154-3931-44f0-8022-121b6401627d")
FIRMWARE_UUID = uuid.UUID("1aff3acb-f1a6-4764-a263-4c2646c1c654")
NONCE = bytes.fromhex("d3efdd7f04f1fc60e5858b2087343d6a")
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ECDSA_SHA256_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")
KEY_USAGE_EXTENSION_REQUEST = bytes.fromhex("301c06092a864886f70d01090e310f300d300b0603551d0f0404030203e8")


def _content_start(der: bytes, offset: int) -> int:
    first = der[offset + 1]
    return offset + 2 + (first & 0x7F if first & 0x80 else 0)


def _element_end(der: bytes, offset: int) -> int:
    first = der[offset + 1]
    length = int.from_bytes(der[offset + 2 : _content_start(der, offset)], "big") if first & 0x80 else first
    return _content_start(der, offset) + length


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def identity_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def device_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _verify_cose(cose: bytes, key: ec.EllipticCurvePrivateKey, payload: bytes, payload_field: bytes) -> None:
    """Check the fixed COSE framing, then the ES256 signature over Sig_structure, independently of the client."""
    header = bytes.fromhex("d28443a10126a1044121") + payload_field
    assert cose.startswith(header)
    assert cose[len(header) : len(header) + 2] == b"\x58\x40"
    signature = cose[len(header) + 2 :]
    assert len(signature) == 64
    sig_structure = cbor2.dumps(["Signature1", bytes.fromhex("a10126"), b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.public_key().verify(der, sig_structure, ec.ECDSA(hashes.SHA256()))


# --- CBOR encoding the simulator relies on (cbor2): shortest heads, RFC 8949 Appendix A vectors ---------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (100, "1864"),
        (1000, "1903e8"),
        (1000000, "1a000f4240"),
        (2**64 - 1, "1bffffffffffffffff"),
        (-1, "20"),
        (-10, "29"),
        (-100, "3863"),
        (-1000, "3903e7"),
        (-(2**64), "3bffffffffffffffff"),
        (b"", "40"),
        (bytes.fromhex("01020304"), "4401020304"),
        ("", "60"),
        ("a", "6161"),
        ("IETF", "6449455446"),
        ("\u00fc", "62c3bc"),
        ([], "80"),
        ([1, [2, 3], [4, 5]], "8301820203820405"),
        ({}, "a0"),
        ({1: 2, 3: 4}, "a201020304"),
        (cbor2.CBORTag(1, 1363896240), "c11a514b67b0"),
        (False, "f4"),
        (True, "f5"),
        (None, "f6"),
    ],
)
def test_cbor_rfc8949_vectors(value: object, encoded: str) -> None:
    assert cbor2.dumps(value).hex() == encoded


# --- %KEYGEN ------------------------------------------------------------------------------------------------


def test_keygen_default_csr_matches_real_modem_shape(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    text = make_keygen_response(device_key, sec_tag=17, device_uuid=DEVICE_UUID, identity_key=identity_key, nonce=NONCE)
    csr_part, cose_part = text.split(".")
    assert "=" not in text
    der = _unb64(csr_part)
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=50363154-3931-44f0-8022-121b6401627d"
    assert KEY_USAGE_EXTENSION_REQUEST in der
    assert ECDSA_SHA256 in der and ECDSA_SHA256_NULL not in der
    assert csr.public_key().public_numbers() == device_key.public_key().public_numbers()
    payload = cbor2.dumps(cbor2.CBORTag(55799, [9, DEVICE_UUID.bytes, b"\x11", hashlib.sha256(der).digest(), NONCE]))
    assert payload.hex().startswith("d9d9f785095050363154393144f08022121b6401627d411158")
    _verify_cose(_unb64(cose_part), identity_key, payload, b"\x58\x4b" + payload)


def test_keygen_null_parameter_defect_keeps_a_valid_signature(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    text = make_keygen_response(
        device_key, sec_tag=17, device_uuid=DEVICE_UUID, identity_key=identity_key, null_param_defect=True
    )
    der = _unb64(text.split(".")[0])
    assert ECDSA_SHA256_NULL in der and ECDSA_SHA256 not in der
    # The signature covers the CertificationRequestInfo only: verify it by hand from the DER.
    info_start = _content_start(der, 0)
    info = der[info_start : _element_end(der, info_start)]
    assert der[info_start + len(info) :].startswith(ECDSA_SHA256_NULL)
    bit_string_at = info_start + len(info) + len(ECDSA_SHA256_NULL)
    signature = der[_content_start(der, bit_string_at) + 1 :]  # skip the unused-bits byte
    device_key.public_key().verify(signature, info, ec.ECDSA(hashes.SHA256()))
    # COSE digest covers the CSR as emitted (with the defect).
    cose = _unb64(text.split(".")[1])
    assert hashlib.sha256(der).digest() in cose


def test_keygen_attributes_become_the_subject_in_order(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    text = make_keygen_response(
        device_key,
        sec_tag=5,
        device_uuid=DEVICE_UUID,
        identity_key=identity_key,
        attributes="O=Nordic Semiconductor,L=Trondheim,C=no,CN=mydevice",
    )
    csr = x509.load_der_x509_csr(_unb64(text.split(".")[0]))
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.ORGANIZATION_NAME, "Nordic Semiconductor"),
        (NameOID.LOCALITY_NAME, "Trondheim"),
        (NameOID.COUNTRY_NAME, "no"),
        (NameOID.COMMON_NAME, "mydevice"),
    ]


@pytest.mark.parametrize(
    "attributes",
    ["", "CN", "CN=", "=x", "CN=a,,O=b", "XX=1", "cn=lower", "C=Norway", 'CN=a"b', "emailAddress=a@b"],
)
def test_keygen_bad_attributes_raise_value_error(attributes: str) -> None:
    with pytest.raises(ValueError):
        parse_attributes(attributes)


def test_keygen_high_sec_tag_is_encoded_as_negative_int32(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    text = make_keygen_response(
        device_key, sec_tag=2_147_483_650, device_uuid=DEVICE_UUID, identity_key=identity_key, nonce=NONCE
    )
    cose = _unb64(text.split(".")[1])
    assert cbor2.dumps(cbor2.dumps(2_147_483_650 - 2**32)) in cose  # bstr(CBOR(-2147483646)) = 45 3a 7f ff ff fd


def test_keygen_public_key_message(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    text = make_keygen_response(
        device_key, sec_tag=17, device_uuid=DEVICE_UUID, identity_key=identity_key, response_content=1, nonce=NONCE
    )
    first, cose_part = text.split(".")
    spki = device_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert _unb64(first) == spki
    payload = cbor2.dumps(cbor2.CBORTag(55799, [8, DEVICE_UUID.bytes, b"\x11", hashlib.sha256(spki).digest(), NONCE]))
    _verify_cose(_unb64(cose_part), identity_key, payload, b"\x58\x4b" + payload)


def test_keygen_rejects_bad_arguments(
    device_key: ec.EllipticCurvePrivateKey, identity_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(ValueError, match="response_content"):
        make_keygen_response(
            device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key, response_content=2
        )
    with pytest.raises(ValueError, match="nonce"):
        make_keygen_response(device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key, nonce=b"x")
    with pytest.raises(ValueError, match="sec_tag"):
        make_keygen_response(device_key, sec_tag=2**32, device_uuid=DEVICE_UUID, identity_key=identity_key)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        make_keygen_response(p384, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key)
    with pytest.raises(ValueError, match="P-256"):
        make_keygen_response(device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=p384)


def test_build_csr_der_defect_changes_only_the_algorithm(device_key: ec.EllipticCurvePrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    clean = build_csr_der(device_key, name)
    defect = build_csr_der(device_key, name, null_param_defect=True)
    clean_info_at, defect_info_at = _content_start(clean, 0), _content_start(defect, 0)
    clean_info = clean[clean_info_at : _element_end(clean, clean_info_at)]
    defect_info = defect[defect_info_at : _element_end(defect, defect_info_at)]
    assert clean_info == defect_info  # the CertificationRequestInfo is untouched
    assert clean[clean_info_at + len(clean_info) :].startswith(ECDSA_SHA256)
    assert defect[defect_info_at + len(defect_info) :].startswith(ECDSA_SHA256_NULL)
    assert _element_end(defect, 0) == len(defect)  # outer length re-encoded


# --- %ATTESTTOKEN -------------------------------------------------------------------------------------------


def test_attestation_token_matches_real_layout(identity_key: ec.EllipticCurvePrivateKey) -> None:
    text = make_attestation_token(
        device_uuid=DEVICE_UUID, device_type=3, firmware_uuid=FIRMWARE_UUID, identity_key=identity_key, nonce=NONCE
    )
    message_part, cose_part = text.split(".")
    message = _unb64(message_part)
    # The exact bytes of the real nRF9160 token decoded in modem-behaviour.md#attesttoken (same UUIDs, type, nonce).
    assert message.hex() == (
        "d9d9f78501"
        "5050363154393144f08022121b6401627d"
        "03"
        "501aff3acbf1a64764a2634c2646c1c654"
        "50d3efdd7f04f1fc60e5858b2087343d6a"
    )
    _verify_cose(_unb64(cose_part), identity_key, message, b"\xf6")


def test_attestation_random_nonce_and_bad_nonce(identity_key: ec.EllipticCurvePrivateKey) -> None:
    a = make_attestation_token(
        device_uuid=DEVICE_UUID, device_type=4, firmware_uuid=FIRMWARE_UUID, identity_key=identity_key
    )
    b = make_attestation_token(
        device_uuid=DEVICE_UUID, device_type=4, firmware_uuid=FIRMWARE_UUID, identity_key=identity_key
    )
    assert a.split(".")[0] != b.split(".")[0]
    with pytest.raises(ValueError, match="nonce"):
        make_attestation_token(
            device_uuid=DEVICE_UUID, device_type=4, firmware_uuid=FIRMWARE_UUID, identity_key=identity_key, nonce=b""
        )


def test_parse_challenge() -> None:
    assert parse_challenge("D3EFDD7F04F1FC60E5858B2087343D6A") == NONCE
    for bad in ("", "00", "g" * 32, "0" * 33):
        with pytest.raises(ValueError, match="32 hexadecimal"):
            parse_challenge(bad)


# --- %CERTEXPIRY --------------------------------------------------------------------------------------------


def _certificate(serial: int, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expiry test")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def test_cert_expiry_reproduces_the_nordic_documentation_example() -> None:
    cert = _certificate(
        0xAEF87681FA968B61,
        dt.datetime(2017, 8, 23, 8, 47, 37, tzinfo=dt.UTC),
        dt.datetime(2018, 8, 23, 8, 47, 37, tzinfo=dt.UTC),
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    # Nordic %CERTEXPIRY set command doc: "%CERTEXPIRY: 00AEF87681FA968B61,20170823084737Z,20180823084737Z"
    assert cert_expiry_line(pem) == "%CERTEXPIRY: 00AEF87681FA968B61,20170823084737Z,20180823084737Z"
    serial, not_before, not_after = cert_expiry(cert.public_bytes(serialization.Encoding.DER))
    assert serial == "00AEF87681FA968B61"
    assert format_cert_expiry(serial, not_before, not_after).endswith("20180823084737Z")


def test_cert_expiry_uses_the_first_certificate_of_a_chain() -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    first = _certificate(1, when, when + dt.timedelta(days=1))
    second = _certificate(0x7F, when, when + dt.timedelta(days=2))
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (first, second)).replace(b"\n", b"\r\n")
    assert cert_expiry_line(chain) == "%CERTEXPIRY: 01,20300102030405Z,20300103030405Z"


@pytest.mark.parametrize("content", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_cert_expiry_rejects_non_certificates(content: bytes) -> None:
    with pytest.raises(ValueError, match=r"not an X\.509 certificate"):
        cert_expiry(content)
