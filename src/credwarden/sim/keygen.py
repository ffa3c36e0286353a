"""`%KEYGEN` answers of the simulated modem: PKCS#10 CSR (or public key) plus the COSE_Sign1 "CSR message".

modem-behaviour.md#keygen. `make_keygen_response` returns the text between the quotes of `%KEYGEN: "<b64url>.<b64url>"`:
* CSR: EC P-256, subject from `<attributes>` (`"O=Nordic Semiconductor,L=Trondheim,C=no,CN=mydevice"`) or
  CN = device UUID (lower-case 8-4-4-4-12); one extension request, keyUsage `03 02 03 E8`; ECDSA-SHA256.
  `null_param_defect=True` re-encodes the signatureAlgorithm as SEQUENCE(OID, NULL) like some real firmware
  (the signature still covers the unchanged CertificationRequestInfo, so it still verifies).
* COSE payload: tag 55799 `[9 | 8, uuid16, bstr(CBOR(sec_tag)), SHA-256(first part as emitted), nonce16]`,
  signed by the device identity key. sec_tag >= 2^31 is encoded as the negative int32 the modem uses.
Malformed or unsupported attributes raise ValueError (the simulator answers ERROR).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credwarden.sim.cose import sign1

__all__ = [
    "CSR_MESSAGE_V1",
    "PUBKEY_MESSAGE_V2",
    "b64url",
    "build_csr_der",
    "make_keygen_response",
    "parse_attributes",
]

CSR_MESSAGE_V1 = 9
PUBKEY_MESSAGE_V2 = 8
SELF_DESCRIBED_CBOR_TAG = 55799
NONCE_BYTES = 16
#: Attribute IDs the simulator accepts in `<attributes>` (the real set is not documented: modem-behaviour.md#keygen).
ATTRIBUTE_OIDS: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}
_ECDSA_SHA256_ALG_ID = bytes.fromhex("300a06082a8648ce3d040302")
_ECDSA_SHA256_ALG_ID_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")
_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=True,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_INT32_SPAN = 2**32
_INT32_MAX = 2**31 - 1


def b64url(data: bytes) -> str:
    """base64url without padding, as the modem prints it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_attributes(attributes: str) -> x509.Name:
    """Parse `ID=value[,ID=value...]` into a subject Name (order kept); ValueError when malformed/unknown."""
    if not attributes:
        raise ValueError("empty attributes")
    names: list[x509.NameAttribute[str]] = []
    for pair in attributes.split(","):
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not value:
            raise ValueError(f"malformed attribute {pair!r}: expected ID=value")
        if key not in ATTRIBUTE_OIDS:
            raise ValueError(f"unsupported attribute ID {key!r}; known: {', '.join(ATTRIBUTE_OIDS)}")
        if '"' in value:
            raise ValueError("attribute values cannot contain a double quote")
        names.append(x509.NameAttribute(ATTRIBUTE_OIDS[key], value))  # ValueError for e.g. C not 2 letters
    return x509.Name(names)


def _read_header(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER TLV at `offset`."""
    tag = der[offset]
    first = der[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[offset + 2 : offset + 2 + count], "big")
    start = offset + 2 + count
    return tag, start, start + length


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _add_null_parameter(csr_der: bytes) -> bytes:
    """Re-encode the CSR's signatureAlgorithm as SEQUENCE(ecdsa-with-SHA256, NULL) (the real-firmware defect)."""
    _, start, end = _read_header(csr_der, 0)
    _, _, info_end = _read_header(csr_der, start)
    alg_end = info_end + len(_ECDSA_SHA256_ALG_ID)
    if csr_der[info_end:alg_end] != _ECDSA_SHA256_ALG_ID:
        raise ValueError("CSR signature algorithm is not ecdsa-with-SHA256")
    body = csr_der[start:info_end] + _ECDSA_SHA256_ALG_ID_NULL + csr_der[alg_end:end]
    return b"\x30" + _der_length(len(body)) + body


def build_csr_der(
    private_key: ec.EllipticCurvePrivateKey, subject: x509.Name, *, null_param_defect: bool = False
) -> bytes:
    """A PKCS#10 CSR as the modem emits it (keyUsage-only extension request, ECDSA-SHA256)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(_KEY_USAGE, critical=False)
        .sign(private_key, hashes.SHA256())
    )
    der = csr.public_bytes(serialization.Encoding.DER)
    return _add_null_parameter(der) if null_param_defect else der


def _sec_tag_as_int32(sec_tag: int) -> int:
    if not 0 <= sec_tag < _INT32_SPAN:
        raise ValueError(f"sec_tag {sec_tag} out of range")
    return sec_tag - _INT32_SPAN if sec_tag > _INT32_MAX else sec_tag


def make_keygen_response(
    private_key: ec.EllipticCurvePrivateKey,
    *,
    sec_tag: int,
    device_uuid: uuid.UUID,
    identity_key: ec.EllipticCurvePrivateKey,
    attributes: str | None = None,
    null_param_defect: bool = False,
    response_content: int = 0,
    nonce: bytes | None = None,
) -> str:
    """Text between the quotes of `%KEYGEN: "..."` for a key in `sec_tag` (see module docstring)."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("the modem generates P-256 keys only")
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    if response_content == 0:
        subject = (
            parse_attributes(attributes)
            if attributes is not None
            else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(device_uuid))])
        )
        first = build_csr_der(private_key, subject, null_param_defect=null_param_defect)
        message_type = CSR_MESSAGE_V1
    elif response_content == 1:
        first = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        message_type = PUBKEY_MESSAGE_V2
    else:
        raise ValueError(f"unsupported response_content {response_content}")
    body = [
        message_type,
        device_uuid.bytes,
        cbor2.dumps(_sec_tag_as_int32(sec_tag)),
        hashlib.sha256(first).digest(),
        nonce,
    ]
    payload = cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR_TAG, body))
    return f"{b64url(first)}.{b64url(sign1(payload, identity_key))}"
