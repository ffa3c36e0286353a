"""COSE_Sign1 (RFC 9052) decoding and ES256 verification for `%KEYGEN` / `%ATTESTTOKEN` answers.

`decode_cose_sign1` turns the CBOR bytes into `credwarden.models.CoseSign1` (malformed → ProtocolError).
`verify_cose_sign1` checks an ES256 (ECDSA P-256 / SHA-256, raw 64-byte r||s) signature over the Sig_structure
`["Signature1", protected bytes as received, external_aad, payload]`; a detached payload (nil in the message,
as in `%ATTESTTOKEN`) is passed by the caller. A signature that does not verify raises VerificationError.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from credwarden.creds.cbor import CborTag, dumps, loads
from credwarden.errors import ProtocolError, VerificationError
from credwarden.models import CoseSign1

__all__ = ["COSE_SIGN1_TAG", "ES256", "decode_cose_sign1", "verify_cose_sign1"]

COSE_SIGN1_TAG = 18
ES256 = -7
_HEADER_ALG = 1
_ES256_SIGNATURE_BYTES = 64


def _split(data: bytes, *, require_tag: bool) -> tuple[bytes, dict[int, Any], dict[int, Any], bytes | None, bytes]:
    item = loads(data)
    if isinstance(item, CborTag):
        if item.tag != COSE_SIGN1_TAG:
            raise ProtocolError(f"COSE: CBOR tag {item.tag} is not COSE_Sign1 ({COSE_SIGN1_TAG})")
        item = item.value
    elif require_tag:
        raise ProtocolError(f"COSE: the message is not tagged as COSE_Sign1 ({COSE_SIGN1_TAG})")
    if not isinstance(item, list) or len(item) != 4:
        raise ProtocolError("COSE: COSE_Sign1 must be an array of 4 items")
    protected_raw, unprotected, payload, signature = item
    if not isinstance(protected_raw, bytes):
        raise ProtocolError("COSE: protected header must be a byte string")
    protected = loads(protected_raw) if protected_raw else {}
    for name, header in (("protected", protected), ("unprotected", unprotected)):
        if not isinstance(header, dict) or not all(isinstance(k, int | str) for k in header):
            raise ProtocolError(f"COSE: {name} header must be a map with integer or text labels")
    if payload is not None and not isinstance(payload, bytes):
        raise ProtocolError("COSE: payload must be a byte string or nil")
    if not isinstance(signature, bytes):
        raise ProtocolError("COSE: signature must be a byte string")
    return protected_raw, protected, unprotected, payload, signature


def decode_cose_sign1(data: bytes, *, require_tag: bool = True) -> CoseSign1:
    """Decode a (by default tag-18) COSE_Sign1; ProtocolError on anything malformed."""
    _, protected, unprotected, payload, signature = _split(data, require_tag=require_tag)
    return CoseSign1(protected=protected, unprotected=unprotected, payload=payload, signature=signature)


def verify_cose_sign1(
    data: bytes,
    public_key: ec.EllipticCurvePublicKey,
    *,
    detached_payload: bytes | None = None,
    external_aad: bytes = b"",
    require_tag: bool = True,
) -> CoseSign1:
    """Verify an ES256 COSE_Sign1 with `public_key`; return it decoded. VerificationError when it does not verify."""
    protected_raw, protected, unprotected, payload, signature = _split(data, require_tag=require_tag)
    if protected.get(_HEADER_ALG) != ES256:
        raise ProtocolError(f"COSE: algorithm {protected.get(_HEADER_ALG)!r} is not ES256 ({ES256})")
    if payload is None and detached_payload is None:
        raise ProtocolError("COSE: the payload is detached; pass detached_payload to verify")
    if payload is not None and detached_payload is not None:
        raise ProtocolError("COSE: the message carries its payload; detached_payload must not be given")
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ProtocolError(f"COSE: ES256 needs a P-256 key, got {public_key.curve.name}")
    if len(signature) != _ES256_SIGNATURE_BYTES:
        raise ProtocolError(f"COSE: ES256 signature must be {_ES256_SIGNATURE_BYTES} bytes, got {len(signature)}")
    signed = payload if payload is not None else detached_payload
    sig_structure = dumps(["Signature1", protected_raw, external_aad, signed])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, sig_structure, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise VerificationError("COSE_Sign1 signature does not verify with the given public key") from exc
    return CoseSign1(protected=protected, unprotected=unprotected, payload=payload, signature=signature)
