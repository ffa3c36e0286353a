"""A throwaway manifest for fault campaigns: root CA, client certificate + key (tag 42), PSK + identity (tag 43).

Used by `bench/bench_campaign.py` and the field tests; every credential is generated fresh, nothing is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CAMPAIGN_MANIFEST = """
[[credential]]
sec_tag = 42
type = "root-ca"
file = "ca.pem"

[[credential]]
sec_tag = 42
type = "client-cert"
file = "client.pem"

[[credential]]
sec_tag = 42
type = "client-key"
file = "client.key"

[[credential]]
sec_tag = 43
type = "psk"
value = "00112233445566778899aabbccddeeff"

[[credential]]
sec_tag = 43
type = "psk-identity"
value = "campaign-device"
"""


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None, *, ca: bool
) -> bytes:
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def write_campaign_manifest(directory: Path) -> Path:
    """Write the manifest and its freshly generated credentials into `directory`; return the manifest path."""
    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (directory / "ca.pem").write_bytes(_certificate("campaign root", ca_key, None, ca=True))
    (directory / "client.pem").write_bytes(
        _certificate("campaign client", client_key, ("campaign root", ca_key), ca=False)
    )
    (directory / "client.key").write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path = directory / "manifest.toml"
    path.write_text(CAMPAIGN_MANIFEST)
    return path
