"""Throwaway test PKI generated at test time with `cryptography` (nothing secret is committed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: str | None = None,
    issuer_key: CertificateIssuerPrivateKeyTypes | None = None,
    ca: bool | None = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    public_key: object | None = None,
) -> x509.Certificate:
    """A certificate for `key` (or `public_key`), self-signed unless an issuer is given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(public_key or key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=3650))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def key_pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    password: bytes | None = None,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


@dataclass
class Pki:
    """A root CA and a client certificate/key signed by it, plus helpers to write them as files."""

    ca_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    client_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        self.ca = make_cert("credwarden TEST ONLY root CA", self.ca_key, ca=True)
        self.client = make_cert(
            "credwarden TEST ONLY device",
            self.client_key,
            issuer=self.ca.subject.rfc4514_string().removeprefix("CN="),
            issuer_key=self.ca_key,
            ca=False,
        )

    @property
    def ca_pem(self) -> bytes:
        return pem(self.ca)

    @property
    def client_pem(self) -> bytes:
        return pem(self.client)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.client_key)

    def write(self, directory: Path) -> dict[str, Path]:
        """Write ca.pem, client.pem, client.key into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {"ca": directory / "ca.pem", "client": directory / "client.pem", "key": directory / "client.key"}
        files["ca"].write_bytes(self.ca_pem)
        files["client"].write_bytes(self.client_pem)
        files["key"].write_bytes(self.key_pem)
        return files


def manifest_text(
    ca: str = "ca.pem", client: str = "client.pem", key: str = "client.key", sec_tag: int = 42, extra: str = ""
) -> str:
    """A manifest for one sec_tag with CA + client cert + key."""
    return (
        f"{extra}\n"
        f'[[credential]]\nsec_tag = {sec_tag}\ntype = "root-ca"\nfile = "{ca}"\n\n'
        f'[[credential]]\nsec_tag = {sec_tag}\ntype = "client-cert"\nfile = "{client}"\n\n'
        f'[[credential]]\nsec_tag = {sec_tag}\ntype = "client-key"\nfile = "{key}"\n'
    )
