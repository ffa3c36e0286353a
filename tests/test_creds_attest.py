"""`%ATTESTTOKEN` decoding (creds/attest.py): a real token, simulator round trips, malformed input."""

from __future__ import annotations

import base64
import uuid

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.attest import DEVICE_TYPE_NAMES, decode_attestation, device_type_name
from credwarden.errors import ProtocolError, VerificationError
from credwarden.sim.tokens import make_attestation_token

# Real nRF9160 token (nRFCloud/utils tests/test_modem_credentials_parser.py); see modem-behaviour.md#attesttoken.
REAL_TOKEN = (
    "2dn3hQFQUDYxVDkxRPCAIhIbZAFifQNQGv86y_GmR2SiY0wmRsHGVFDT791_BPH8YOWFiyCHND1q."
    "0oRDoQEmoQRBIfZYQGuXwJliinHc6xDPruiyjsaXyXZbZVpUuOhHG9YS8L05VuglCcJhMN4EUhWVGpaHgNnHHno6ahi-d5tOeZmAcNY"
)
DEVICE_UUID = uuid.UUID("50363154-3931-44f0-8022-121b6401627d")
FIRMWARE_UUID = uuid.UUID("25c95751-efa4-40d4-8b4a-1dcaab81fac9")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def identity_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_real_token_decodes_to_the_spec_facts() -> None:
    token = decode_attestation(REAL_TOKEN)
    assert token.message_type == 1
    assert token.device_uuid == "50363154-3931-44f0-8022-121b6401627d"
    assert token.device_type == 3 and token.device_type_name == "NRF9160 SIAA"
    assert token.firmware_uuid == "1aff3acb-f1a6-4764-a263-4c2646c1c654"
    assert token.nonce.hex() == "d3efdd7f04f1fc60e5858b2087343d6a"
    assert token.cose is not None
    assert token.cose.payload is None  # detached
    assert token.cose.protected == {1: -7} and token.cose.unprotected == {4: b"\x21"}
    assert len(token.cose.signature) == 64
    data = token.to_json()
    assert data["raw"] == REAL_TOKEN and data["cose"]["payload"] is None


def test_token_in_quotes_and_without_cose() -> None:
    body = REAL_TOKEN.split(".")[0]
    token = decode_attestation(f'"{body}"')
    assert token.cose is None and token.raw == body and token.device_type == 3


def test_device_type_names() -> None:
    assert [device_type_name(n) for n in range(1, 7)] == [
        "nRF9160 SIAA",
        "nRF9160 SIBA",
        "NRF9160 SIAA",
        "nRF9161 LACA",
        "nRF9131 LACA",
        "nRF9151 LACA",
    ]
    assert device_type_name(99) == "unknown (99)"
    assert len(DEVICE_TYPE_NAMES) == 6


@pytest.mark.parametrize("device_type", [1, 4, 6, 200])
def test_round_trip_with_signature_verification(identity_key: ec.EllipticCurvePrivateKey, device_type: int) -> None:
    nonce = bytes(range(16))
    text = make_attestation_token(
        device_uuid=DEVICE_UUID,
        device_type=device_type,
        firmware_uuid=FIRMWARE_UUID,
        identity_key=identity_key,
        nonce=nonce,
    )
    token = decode_attestation(text, identity_public_key=identity_key.public_key())
    assert (token.device_uuid, token.firmware_uuid, token.device_type, token.nonce) == (
        str(DEVICE_UUID),
        str(FIRMWARE_UUID),
        device_type,
        nonce,
    )
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError):
        decode_attestation(text, identity_public_key=other)


def test_tampered_message_fails_verification(identity_key: ec.EllipticCurvePrivateKey) -> None:
    text = make_attestation_token(
        device_uuid=DEVICE_UUID, device_type=4, firmware_uuid=FIRMWARE_UUID, identity_key=identity_key
    )
    _body, cose = text.split(".")
    message = cbor2.CBORTag(55799, [1, DEVICE_UUID.bytes, 5, FIRMWARE_UUID.bytes, bytes(16)])
    forged = _b64(cbor2.dumps(message)) + "." + cose
    assert decode_attestation(forged).device_type == 5  # decodes...
    with pytest.raises(VerificationError):  # ...but does not verify
        decode_attestation(forged, identity_public_key=identity_key.public_key())


def _message(items: list[object]) -> str:
    return _b64(cbor2.dumps(cbor2.CBORTag(55799, items)))


_U = DEVICE_UUID.bytes


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ("abcde", "truncated base64url"),
        ("ab$d", "unexpected characters"),
        ("a.b.c", "3 part"),
        (_b64(b"\x9f"), "malformed CBOR"),
        (_message([1, _U, 3, _U]), "array of 5"),
        (_b64(cbor2.dumps({})), "array of 5"),
        (_message([2, _U, 3, _U, b""]), "message type 2"),
        (_message([True, _U, 3, _U, b""]), "message type True"),
        (_message([1, _U[:15], 3, _U, b""]), "device UUID must be 16 bytes"),
        (_message([1, _U, 3, "x", b""]), "firmware UUID must be 16 bytes"),
        (_message([1, _U, "3", _U, b""]), "device type must be an integer"),
        (_message([1, _U, 3, _U, 7]), "nonce must be a byte string"),
        (REAL_TOKEN.split(".")[0] + "." + _b64(bytes.fromhex("d28440a04040")), "detached"),
        (REAL_TOKEN.split(".")[0] + "." + _b64(bytes.fromhex("c18440a0f640")), "tag 1 is not COSE_Sign1"),
    ],
)
def test_malformed_tokens_give_clear_protocol_errors(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_attestation(text)
