"""Token-style answers of the simulated modem: `%ATTESTTOKEN`, `%CERTEXPIRY` and `%KEYGEN`.

Background: modem-behaviour.md#attesttoken, #certexpiry, #keygen.

`make_keygen_response` lives in `credwarden.sim.keygen` and is re-exported here so the engine has one import.
`%CERTEXPIRY` format, from Nordic's nRF9160 AT command reference (%CERTEXPIRY set command):
`%CERTEXPIRY: <serial number>,<notBefore>,<notAfter>`, serial "in hexadecimal format" (the doc example
`00AEF87681FA968B61` shows the DER INTEGER content bytes, leading 00 kept, upper case), times
`yyyymmddhhmmssZ` (UTC); errors 513 not found, 527 invalid content; types 0, 1 and 10 only.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.sim.cose import sign1
from credwarden.sim.keygen import NONCE_BYTES, SELF_DESCRIBED_CBOR_TAG, b64url, make_keygen_response

__all__ = [
    "CERTEXPIRY_TYPES",
    "DEVICE_IDENTITY_MESSAGE_V1",
    "cert_expiry",
    "cert_expiry_line",
    "format_cert_expiry",
    "make_attestation_token",
    "make_keygen_response",
    "parse_challenge",
]

DEVICE_IDENTITY_MESSAGE_V1 = 1
#: `%CERTEXPIRY` accepts these types (root CA, client cert, Nordic identity root CA).
CERTEXPIRY_TYPES = frozenset({0, 1, 10})
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL)
_CHALLENGE = re.compile(r"[0-9A-Fa-f]{32}")


def parse_challenge(challenge: str) -> bytes:
    """`%ATTESTTOKEN=<challenge>`: exactly 32 hex characters → 16-byte nonce; ValueError otherwise."""
    if not _CHALLENGE.fullmatch(challenge):
        raise ValueError("challenge must be 32 hexadecimal characters")
    return bytes.fromhex(challenge)


def make_attestation_token(
    *,
    device_uuid: uuid.UUID,
    device_type: int,
    firmware_uuid: uuid.UUID,
    identity_key: ec.EllipticCurvePrivateKey,
    nonce: bytes | None = None,
) -> str:
    """Text between the quotes of `%ATTESTTOKEN: "..."`: b64url(message).b64url(COSE_Sign1, detached payload)."""
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    body = [DEVICE_IDENTITY_MESSAGE_V1, device_uuid.bytes, device_type, firmware_uuid.bytes, nonce]
    message = cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR_TAG, body))
    return f"{b64url(message)}.{b64url(sign1(message, identity_key, detached=True))}"


def _first_certificate(content: bytes) -> x509.Certificate:
    match = _PEM_CERT.search(content)
    try:
        if match:
            return x509.load_pem_x509_certificate(match.group(0))
        return x509.load_der_x509_certificate(content)
    except ValueError as exc:
        raise ValueError("content is not an X.509 certificate") from exc


def _serial_hex(serial: int) -> str:
    length = serial.bit_length() // 8 + 1  # DER INTEGER content length (sign bit kept)
    return serial.to_bytes(length, "big", signed=True).hex().upper()


def cert_expiry(content: bytes) -> tuple[str, datetime, datetime]:
    """(serial hex, notBefore, notAfter) of the first certificate in `content`; ValueError → CME 527."""
    cert = _first_certificate(content)
    return _serial_hex(cert.serial_number), cert.not_valid_before_utc, cert.not_valid_after_utc


def _modem_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def format_cert_expiry(serial: str, not_before: datetime, not_after: datetime) -> str:
    """The response line `%CERTEXPIRY: <serial>,<yyyymmddhhmmssZ>,<yyyymmddhhmmssZ>` (no CR LF)."""
    return f"%CERTEXPIRY: {serial},{_modem_time(not_before)},{_modem_time(not_after)}"


def cert_expiry_line(content: bytes) -> str:
    """`format_cert_expiry(*cert_expiry(content))`: the full info line for stored certificate content."""
    return format_cert_expiry(*cert_expiry(content))
