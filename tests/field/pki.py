"""Throwaway certificates and keys for the field tests (generated at test time, nothing committed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    days_left: float = 365,
    ca: bool = False,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
) -> bytes:
    """A PEM certificate for `key` valid until now + days_left (self-signed unless `issuer`)."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else name
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days_left))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
