"""`%ATTESTTOKEN` decoding (modem-behaviour.md#attesttoken): `"<b64url(device identity message)>.<b64url(COSE_Sign1)>"`.

The message is CBOR tag 55799 `[1, device_uuid16, device_type, firmware_uuid16, nonce16]`; the COSE_Sign1
carries a nil (detached) payload and signs the message bytes with the device identity key.
"""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.b64url import b64url_decode, split_token
from credwarden.creds.cbor import CborTag, loads
from credwarden.creds.cose import decode_cose_sign1, verify_cose_sign1
from credwarden.errors import ProtocolError
from credwarden.models import AttestationToken, CoseSign1

__all__ = ["DEVICE_IDENTITY_MESSAGE_V1", "DEVICE_TYPE_NAMES", "decode_attestation", "device_type_name"]

DEVICE_IDENTITY_MESSAGE_V1 = 1
SELF_DESCRIBED_CBOR_TAG = 55799
#: Device type codes as Nordic tooling names them (modem-behaviour.md#attesttoken); 1 and 3 really differ in case only.
DEVICE_TYPE_NAMES: dict[int, str] = {
    1: "nRF9160 SIAA",
    2: "nRF9160 SIBA",
    3: "NRF9160 SIAA",
    4: "nRF9161 LACA",
    5: "nRF9131 LACA",
    6: "nRF9151 LACA",
}
_UUID_BYTES = 16


def device_type_name(code: int) -> str:
    """Readable name of an attestation device type; unknown codes read `unknown (<n>)`."""
    return DEVICE_TYPE_NAMES.get(code, f"unknown ({code})")


def _uuid(value: object, what: str) -> str:
    if not (isinstance(value, bytes) and len(value) == _UUID_BYTES):
        raise ProtocolError(f"ATTESTTOKEN: {what} must be {_UUID_BYTES} bytes")
    return str(uuid.UUID(bytes=value))


def decode_attestation(text: str, *, identity_public_key: ec.EllipticCurvePublicKey | None = None) -> AttestationToken:
    """Decode the text between the quotes of `%ATTESTTOKEN: "..."` (the COSE part is optional).

    With `identity_public_key` the COSE signature over the message is verified (VerificationError if not).
    """
    message_part, cose_part = split_token(text, what="ATTESTTOKEN")
    message = b64url_decode(message_part, what="ATTESTTOKEN message")
    item = loads(message)
    if isinstance(item, CborTag) and item.tag == SELF_DESCRIBED_CBOR_TAG:
        item = item.value
    if not isinstance(item, list) or len(item) != 5:
        raise ProtocolError("ATTESTTOKEN: the message must be an array of 5 items")
    message_type, device_uuid, device_type, firmware_uuid, nonce = item
    if message_type != DEVICE_IDENTITY_MESSAGE_V1 or isinstance(message_type, bool):
        raise ProtocolError(f"ATTESTTOKEN: message type {message_type!r} is not a device identity message (1)")
    if not isinstance(device_type, int) or isinstance(device_type, bool):
        raise ProtocolError("ATTESTTOKEN: device type must be an integer")
    if not isinstance(nonce, bytes):
        raise ProtocolError("ATTESTTOKEN: nonce must be a byte string")
    cose: CoseSign1 | None = None
    if cose_part is not None:
        cose_raw = b64url_decode(cose_part, what="ATTESTTOKEN COSE")
        if identity_public_key is not None:
            cose = verify_cose_sign1(cose_raw, identity_public_key, detached_payload=message)
        else:
            cose = decode_cose_sign1(cose_raw)
        if cose.payload is not None:
            raise ProtocolError("ATTESTTOKEN: the COSE_Sign1 must have a detached (nil) payload")
    return AttestationToken(
        raw=f"{message_part}.{cose_part}" if cose_part is not None else message_part,
        message_type=message_type,
        device_uuid=_uuid(device_uuid, "device UUID"),
        device_type=device_type,
        device_type_name=device_type_name(device_type),
        firmware_uuid=_uuid(firmware_uuid, "firmware UUID"),
        nonce=nonce,
        cose=cose,
    )
