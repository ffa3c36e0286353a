"""`%KEYGEN` CSR handling: NULL-parameter repair, decoding the answer, PEM output (modem-behaviour.md#keygen, issue 2).

Some modem firmware emits the CSR's signatureAlgorithm as SEQUENCE(ecdsa-with-SHA256, NULL)
(`300c06082a8648ce3d0403020500`), which RFC 5758 forbids and strict parsers reject. `repair_csr_der` removes
the NULL; the signature covers only the CertificationRequestInfo, so the repaired CSR still verifies.
`parse_keygen_response` decodes `"<b64url(CSR)>[.<b64url(COSE_Sign1)>]"` into a `KeygenResult`.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.b64url import b64url_decode, split_token
from credwarden.creds.cbor import CborTag, loads
from credwarden.creds.cose import decode_cose_sign1, verify_cose_sign1
from credwarden.errors import ProtocolError
from credwarden.models import CoseSign1, KeygenResult

__all__ = ["CSR_MESSAGE_V1", "PUBKEY_MESSAGE_V2", "csr_to_pem", "parse_keygen_response", "repair_csr_der"]

CSR_MESSAGE_V1 = 9
PUBKEY_MESSAGE_V2 = 8
SELF_DESCRIBED_CBOR_TAG = 55799
_ECDSA_OID_PREFIX = bytes.fromhex("06082a8648ce3d0403")  # ecdsa-with-SHA224/256/384/512 (last byte 01..04)
_DER_NULL = b"\x05\x00"
_SEQUENCE = 0x30
_BIT_STRING = 0x03
_INT32_SPAN = 2**32


def _tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the DER element at `offset`; ProtocolError when it does not fit."""
    if offset + 2 > len(der):
        raise ProtocolError("CSR: truncated DER")
    tag, first = der[offset], der[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ProtocolError("CSR: bad DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ProtocolError("CSR: truncated DER")
    return tag, start, start + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each DER element in der[start:end]."""
    result = []
    offset = start
    while offset < end:
        tag, content, stop = _tlv(der[:end], offset)
        result.append((tag, offset, content, stop))
        offset = stop
    return result


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def repair_csr_der(der: bytes) -> tuple[bytes, bool]:
    """Remove a NULL parameter from an ECDSA signatureAlgorithm; return (DER, repaired). Correct CSRs are unchanged."""
    tag, start, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ProtocolError("CSR: not a single DER SEQUENCE")
    parts = _children(der, start, end)
    if len(parts) != 3 or [p[0] for p in parts] != [_SEQUENCE, _SEQUENCE, _BIT_STRING]:
        raise ProtocolError("CSR: expected SEQUENCE { info, signatureAlgorithm, signature }")
    _, alg_at, alg_content, alg_end = parts[1]
    params = der[alg_content:alg_end]
    is_ecdsa = params[: len(_ECDSA_OID_PREFIX)] == _ECDSA_OID_PREFIX and len(params) >= len(_ECDSA_OID_PREFIX) + 1
    oid_end = len(_ECDSA_OID_PREFIX) + 1
    if not (is_ecdsa and params[oid_end:] == _DER_NULL):
        return der, False
    algorithm = bytes([_SEQUENCE]) + _der_length(oid_end) + params[:oid_end]
    body = der[start:alg_at] + algorithm + der[alg_end:end]
    return bytes([_SEQUENCE]) + _der_length(len(body)) + body, True


def csr_to_pem(der: bytes) -> str:
    """PEM text (`-----BEGIN CERTIFICATE REQUEST-----`, LF, final newline) of a DER CSR (repaired first)."""
    repaired, _ = repair_csr_der(der)
    try:
        csr = x509.load_der_x509_csr(repaired)
    except ValueError as exc:
        raise ProtocolError(f"CSR: not a PKCS#10 request ({exc})") from exc
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _decode_payload(payload: bytes) -> list[Any]:
    item = loads(payload)
    if isinstance(item, CborTag) and item.tag == SELF_DESCRIBED_CBOR_TAG:
        item = item.value
    if not isinstance(item, list) or len(item) != 5:
        raise ProtocolError("KEYGEN: COSE payload must be an array of 5 items")
    message_type, device_uuid, sec_tag_cbor, digest, nonce = item
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        raise ProtocolError("KEYGEN: message type must be an integer")
    if not (isinstance(device_uuid, bytes) and len(device_uuid) == 16):
        raise ProtocolError("KEYGEN: device UUID must be 16 bytes")
    if not isinstance(sec_tag_cbor, bytes):
        raise ProtocolError("KEYGEN: sec_tag must be a CBOR-encoded byte string")
    sec_tag = loads(sec_tag_cbor)
    if not isinstance(sec_tag, int) or isinstance(sec_tag, bool) or not -(2**31) <= sec_tag < _INT32_SPAN:
        raise ProtocolError("KEYGEN: sec_tag in the payload is not a 32-bit integer")
    if not (isinstance(digest, bytes) and len(digest) == 32):
        raise ProtocolError("KEYGEN: digest must be 32 bytes")
    if not isinstance(nonce, bytes):
        raise ProtocolError("KEYGEN: nonce must be a byte string")
    return [message_type, str(uuid.UUID(bytes=device_uuid)), sec_tag % _INT32_SPAN, digest, nonce]


def _load_csr(der: bytes) -> tuple[bytes, bool, x509.CertificateSigningRequest]:
    repaired_der, repaired = repair_csr_der(der)
    try:
        csr = x509.load_der_x509_csr(repaired_der)
        valid = csr.is_signature_valid
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"KEYGEN: the CSR is not a valid PKCS#10 request ({exc})") from exc
    if not valid:
        raise ProtocolError("KEYGEN: the CSR's self-signature does not verify")
    return repaired_der, repaired, csr


def parse_keygen_response(
    sec_tag: int, text: str, *, identity_public_key: ec.EllipticCurvePublicKey | None = None
) -> KeygenResult:
    """Decode a `%KEYGEN` CSR answer (text between the quotes; the `.cose` part is optional).

    Checks: CSR parses (after NULL repair) and its signature verifies; the COSE payload is a CSR message for
    `sec_tag`. `csr_sha256_matches` reports the payload digest against the CSR bytes as received. With
    `identity_public_key` the COSE signature is verified too (VerificationError when it does not).
    """
    csr_part, cose_part = split_token(text, what="KEYGEN")
    received_der = b64url_decode(csr_part, what="KEYGEN CSR")
    cose: CoseSign1 | None = None
    cose_raw: bytes | None = None
    device_uuid: str | None = None
    message_type: int | None = None
    digest_matches: bool | None = None
    if cose_part is not None:
        cose_raw = b64url_decode(cose_part, what="KEYGEN COSE")
        if identity_public_key is not None:
            cose = verify_cose_sign1(cose_raw, identity_public_key)
        else:
            cose = decode_cose_sign1(cose_raw)
        if cose.payload is None:
            raise ProtocolError("KEYGEN: the COSE_Sign1 has no payload")
        message_type, device_uuid, payload_tag, digest, _ = _decode_payload(cose.payload)
        if message_type == PUBKEY_MESSAGE_V2:
            raise ProtocolError("KEYGEN: this is a public-key message (response_content 1), not a CSR answer")
        if message_type != CSR_MESSAGE_V1:
            raise ProtocolError(f"KEYGEN: message type {message_type} is not a CSR message ({CSR_MESSAGE_V1})")
        if payload_tag != sec_tag:
            raise ProtocolError(f"KEYGEN: the answer is for sec_tag {payload_tag}, expected {sec_tag}")
        digest_matches = digest == hashlib.sha256(received_der).digest()
    repaired_der, repaired, csr = _load_csr(received_der)
    public_key_pem = csr.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeygenResult(
        sec_tag=sec_tag,
        csr_der=repaired_der,
        csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        subject=csr.subject.rfc4514_string(),
        public_key_pem=public_key_pem.decode("ascii"),
        repaired_null_params=repaired,
        cose_raw=cose_raw,
        cose=cose,
        device_uuid=device_uuid,
        message_type=message_type,
        csr_sha256_matches=digest_matches,
    )
