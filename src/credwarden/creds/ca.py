"""A local certificate authority for the factory line (issue 7): sign device CSRs from `%KEYGEN`.

`LocalCA.load` reads a CA certificate and its private key (password from an environment variable, never from
the command line); `LocalCA.sign_csr` verifies the CSR's self-signature, then issues a client certificate
(random 159-bit serial, SKI/AKI, basicConstraints CA:false, keyUsage, extendedKeyUsage clientAuth).
`LocalCA.generate` creates a development CA on disk (demo, tests, benchmarks). The private key and its password
never appear in messages, reprs or logs.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from credwarden.creds.csr import repair_csr_der
from credwarden.creds.encoding import canonical_pem
from credwarden.creds.password import password_from_env
from credwarden.errors import ProtocolError, ValidationError

__all__ = [
    "CA_CERT_FILENAME",
    "CA_KEY_FILENAME",
    "LocalCA",
    "SubjectPolicy",
    "certificate_pem",
    "chains_to",
    "common_name",
    "valid_at",
]

SubjectPolicy = Literal["keep", "cn-only"]
CA_CERT_FILENAME = "ca.pem"
CA_KEY_FILENAME = "ca-key.pem"
_SUBJECT_POLICIES: tuple[str, ...] = ("keep", "cn-only")
_SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def chains_to(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when `cert` was issued and signed by `ca`."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def certificate_pem(cert: x509.Certificate) -> bytes:
    """The certificate in credwarden's canonical PEM form (what is written and hashed)."""
    return canonical_pem(cert.public_bytes(serialization.Encoding.PEM))


def common_name(cert: x509.Certificate) -> str | None:
    """The subject CN (nRF Cloud's device id), None when there is none."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def valid_at(cert: x509.Certificate, moment: dt.datetime) -> bool:
    """True when `moment` lies within the certificate's validity."""
    return cert.not_valid_before_utc <= moment < cert.not_valid_after_utc


def _hash_for(key: _SigningKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()


def _public_der(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class LocalCA:
    """A CA certificate plus its private key, able to sign device CSRs."""

    __slots__ = ("_key", "certificate")

    def __init__(self, certificate: x509.Certificate, private_key: _SigningKey) -> None:
        if _public_der(private_key.public_key()) != _public_der(certificate.public_key()):
            raise ValidationError("the CA private key does not belong to the CA certificate")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise ValidationError("the CA certificate is not a CA (basicConstraints CA:TRUE missing)")
        self.certificate = certificate
        self._key = private_key

    def __repr__(self) -> str:
        return f"LocalCA(subject={self.certificate.subject.rfc4514_string()!r})"

    @property
    def subject(self) -> str:
        """RFC 4514 subject of the CA certificate."""
        return self.certificate.subject.rfc4514_string()

    @classmethod
    def load(cls, cert_path: str | Path, key_path: str | Path, password_env: str | None = None) -> LocalCA:
        """Load a PEM CA certificate and PEM/DER key; the key password comes from `$password_env`."""
        cert_path, key_path = Path(cert_path), Path(key_path)
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except OSError as exc:
            raise ValidationError(f"cannot read the CA certificate: {exc.strerror}", source=str(cert_path)) from None
        except ValueError:
            raise ValidationError("not a PEM X.509 certificate", source=str(cert_path)) from None
        password: bytes | None = None
        if password_env is not None:
            password = password_from_env(password_env, purpose="CA key password").encode("utf-8")
        try:
            key_bytes = key_path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read the CA key: {exc.strerror}", source=str(key_path)) from None
        try:
            loader = (
                serialization.load_pem_private_key if b"-----BEGIN" in key_bytes else serialization.load_der_private_key
            )
            key = loader(key_bytes, password=password)
        except TypeError:
            reason = (
                "the CA key is encrypted: name the environment variable holding its password (password_env)"
                if password is None
                else "the CA key is not encrypted but a password was given"
            )
            raise ValidationError(reason, source=str(key_path)) from None
        except ValueError:
            raise ValidationError(
                "cannot load the CA key (not a private key, or wrong password)", source=str(key_path)
            ) from None
        if not isinstance(key, _SigningKey):
            raise ValidationError(f"unsupported CA key type {type(key).__name__}", source=str(key_path))
        return cls(certificate, key)

    @classmethod
    def generate(
        cls, path_dir: str | Path, common_name: str, *, validity_days: int = 3650, overwrite: bool = False
    ) -> LocalCA:
        """Create a development CA (P-256, self-signed) as `ca.pem` + `ca-key.pem` (mode 0600) in `path_dir`."""
        if not common_name.strip():
            raise ValidationError("the CA common name must not be empty")
        if validity_days < 1:
            raise ValidationError(f"validity_days must be at least 1, got {validity_days}")
        directory = Path(path_dir)
        cert_file, key_file = directory / CA_CERT_FILENAME, directory / CA_KEY_FILENAME
        if not overwrite and (cert_file.exists() or key_file.exists()):
            raise ValidationError("a CA already exists here (pass overwrite=True to replace it)", source=str(directory))
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key_pem)
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(certificate, key)

    def _subject(self, csr: x509.CertificateSigningRequest, policy: str) -> x509.Name:
        if policy == "keep":
            if not list(csr.subject):
                raise ValidationError("the CSR has an empty subject")
            return csr.subject
        common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(common_names) != 1:
            raise ValidationError(f"subject policy cn-only needs exactly one CN in the CSR, found {len(common_names)}")
        return x509.Name([common_names[0]])

    def sign_csr(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        validity_days: int = 365 * 3,
        subject_policy: SubjectPolicy = "keep",
        not_before_skew_minutes: int = 5,
        now: dt.datetime | None = None,
    ) -> x509.Certificate:
        """Issue a client certificate for `csr` (signature checked first). notAfter never exceeds the CA's."""
        if subject_policy not in _SUBJECT_POLICIES:
            choices = ", ".join(_SUBJECT_POLICIES)
            raise ValidationError(f"unknown subject policy {subject_policy!r}; use one of {choices}")
        if validity_days < 1:
            raise ValidationError(f"validity_days must be at least 1, got {validity_days}")
        if not 0 <= not_before_skew_minutes <= 24 * 60:
            raise ValidationError("not_before_skew_minutes must be between 0 and 1440")
        if not csr.is_signature_valid:
            raise ValidationError("the CSR's signature does not verify; refusing to sign it")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
            raise ValidationError(f"unsupported public key type in the CSR: {type(public_key).__name__}")
        start = (now or _now()) - dt.timedelta(minutes=not_before_skew_minutes)
        ca_not_after = self.certificate.not_valid_after_utc
        if start >= ca_not_after:
            raise ValidationError("the CA certificate has expired")
        end = min(start + dt.timedelta(days=validity_days), ca_not_after)
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        key_usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=is_rsa,
            data_encipherment=False,
            key_agreement=isinstance(public_key, ec.EllipticCurvePublicKey),
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        try:
            ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key())
        builder = (
            x509.CertificateBuilder()
            .subject_name(self._subject(csr, subject_policy))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(aki, critical=False)
        )
        return builder.sign(self._key, _hash_for(self._key))

    def sign_csr_der(
        self,
        der: bytes,
        *,
        validity_days: int = 365 * 3,
        subject_policy: SubjectPolicy = "keep",
        not_before_skew_minutes: int = 5,
        now: dt.datetime | None = None,
    ) -> x509.Certificate:
        """`sign_csr` for DER bytes (e.g. `KeygenResult.csr_der`); a NULL-parameter defect is repaired first."""
        try:
            repaired, _ = repair_csr_der(der)
            csr = x509.load_der_x509_csr(repaired)
        except (ProtocolError, ValueError) as exc:
            raise ValidationError(f"not a PKCS#10 CSR: {exc}") from None
        return self.sign_csr(
            csr,
            validity_days=validity_days,
            subject_policy=subject_policy,
            not_before_skew_minutes=not_before_skew_minutes,
            now=now,
        )
