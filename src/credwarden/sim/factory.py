"""The simulated modem's own ("factory") material: identity key, reserved-tag entries (modem-behaviour.md#sec_tags)."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credwarden.sim.store import Entry, make_entry
from credwarden.types import FACTORY_ENTRIES

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_key(label: str, device_uuid: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived deterministically from the device UUID (same device → same key)."""
    digest = hashlib.sha256(f"credwarden-sim:{label}:{device_uuid}".encode()).digest()
    value = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(value, ec.SECP256R1())


def _public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def nordic_root_ca(device_uuid: str) -> bytes:
    """A stand-in "Nordic identity root CA" certificate (PEM, LF) for tag 4294967293 type 10.

    Byte-identical for the same device UUID (derived key, fixed dates and serial, deterministic ECDSA), so the
    factory digests a tool records stay valid across simulator starts, with or without a state file.
    """
    key = derived_key("nordic-root", device_uuid)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Simulated Nordic Identity Root CA")])
    start = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(device_uuid.encode()).digest()[:8], "big"))
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * 30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)  # RFC 6979: same device, same bytes, same digest
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def factory_entries(device_uuid: str) -> list[Entry]:
    """The modem-owned entries of firmware 1.3+/2.x, in the order real lists show them (modem-behaviour.md#sec_tags)."""
    by_key = {
        (4_294_967_293, 10): nordic_root_ca(device_uuid),
        (4_294_967_294, 6): _public_pem(derived_key("identity", device_uuid)),
        (4_294_967_292, 11): _public_pem(derived_key("nordic-base", device_uuid)),
    }
    assert set(by_key) == set(FACTORY_ENTRIES)
    return [make_entry(tag, code, content, origin="factory", readable=False) for (tag, code), content in by_key.items()]
