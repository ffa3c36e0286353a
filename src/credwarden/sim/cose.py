"""COSE_Sign1 (RFC 9052) producer for the simulated modem: ES256 over P-256, as `%KEYGEN`/`%ATTESTTOKEN` emit it.

Shape (modem-behaviour.md#keygen): CBOR tag 18 `[h'A10126' ({1: -7}), {4: h'21'}, payload | nil, 64-byte r||s]`.
The signature is a real ECDSA-SHA256 over the Sig_structure `["Signature1", protected, h'', payload]`;
for a detached payload (`%ATTESTTOKEN`) the Sig_structure carries the detached bytes and the message nil.
"""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["COSE_SIGN1_TAG", "ES256", "IDENTITY_KEY_KID", "sign1"]

COSE_SIGN1_TAG = 18
ES256 = -7
#: kid the modem puts in the unprotected header: CBOR(-2), "identity_key" (modem-behaviour.md#keygen).
IDENTITY_KEY_KID = b"\x21"
_P256_COORDINATE_BYTES = 32


def _check_p256(key: ec.EllipticCurvePrivateKey) -> None:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"the identity key must be a P-256 key, got {key.curve.name}")


def sign1(payload: bytes, identity_key: ec.EllipticCurvePrivateKey, *, detached: bool = False) -> bytes:
    """Return the CBOR bytes of a tagged COSE_Sign1 over `payload` (carried, or nil when `detached`)."""
    _check_p256(identity_key)
    protected = cbor2.dumps({1: ES256})
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload])
    der = identity_key.sign(sig_structure, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")
    message = [protected, {4: IDENTITY_KEY_KID}, None if detached else payload, signature]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, message))
