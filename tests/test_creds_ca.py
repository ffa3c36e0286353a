"""Local CA for the factory line (creds/ca.py): generation, loading, CSR signing and refusal paths."""

from __future__ import annotations

import base64
import datetime as dt
import stat
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from credwarden.creds.ca import CA_CERT_FILENAME, CA_KEY_FILENAME, LocalCA
from credwarden.creds.csr import parse_keygen_response
from credwarden.errors import ValidationError
from credwarden.sim.keygen import make_keygen_response

NOW = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
PASSWORD = "s3cret-ca-password"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca")
    LocalCA.generate(path, "credwarden test CA")
    return path


@pytest.fixture(scope="module")
def ca(ca_dir: Path) -> LocalCA:
    return LocalCA.load(ca_dir / CA_CERT_FILENAME, ca_dir / CA_KEY_FILENAME)


def _csr(
    subject: list[x509.NameAttribute[str]], key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
) -> x509.CertificateSigningRequest:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject)).sign(key, hashes.SHA256())


def test_generate_writes_a_private_key_file_and_a_ca_certificate(ca_dir: Path, ca: LocalCA) -> None:
    assert stat.S_IMODE((ca_dir / CA_KEY_FILENAME).stat().st_mode) == 0o600
    assert ca.subject == "CN=credwarden test CA"
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    with pytest.raises(ValidationError, match="already exists"):
        LocalCA.generate(ca_dir, "again")
    assert "PRIVATE" not in repr(ca) and repr(ca) == "LocalCA(subject='CN=credwarden test CA')"


def test_sign_keygen_csr_from_the_simulator(ca: LocalCA) -> None:
    device_key, identity_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    text = make_keygen_response(
        device_key, sec_tag=7, device_uuid=uuid.uuid4(), identity_key=identity_key, null_param_defect=True
    )
    csr = x509.load_der_x509_csr(parse_keygen_response(7, text).csr_der)
    cert = ca.sign_csr(csr, now=NOW)
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject == csr.subject
    assert cert.issuer == ca.certificate.subject
    assert cert.public_key().public_numbers() == device_key.public_key().public_numbers()  # type: ignore[union-attr]
    assert 0 < cert.serial_number < 2**159
    assert cert.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW - dt.timedelta(minutes=5) + dt.timedelta(days=365 * 3)
    ext = cert.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement and not usage.key_encipherment
    assert not usage.key_cert_sign
    assert ext.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(device_key.public_key())
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


# CSR part of a real %KEYGEN answer with the NULL-parameter defect (nRFCloud/utils tests, KEYGEN_CSR).
REAL_DEFECT_CSR_B64 = (
    "MIIBCjCBrwIBADAvMS0wKwYDVQQDDCQ1MDM2MzE1NC0zOTMxLTQ0ZjAtODAyMi0xMjFiNjQwMTYyN2QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC"
    "AAQqD6pNfa29o_EXnw62bnQWr8-JqsNh_HZxS3k3bMD4KZ8-qxnvgeoiqQ5zAycEP_Wcmzqypvwyf3qWMrZ2VB5aoB4wHAYJKoZIhvcNAQkOMQ8w"
    "DTALBgNVHQ8EBAMCA-gwDAYIKoZIzj0EAwIFAANIADBFAiEAv7OLZ_dXbszfhhjcLMUT72wTmw-z6GlgWxVhyWgR27ACIAvY_lPu3yfYZY5AL6uY"
    "TkUFp4GQkbSOUC_lsHyCxOuG"
)


def test_sign_real_keygen_csr_der_with_null_defect(ca: LocalCA) -> None:
    der = base64.urlsafe_b64decode(REAL_DEFECT_CSR_B64 + "=" * (-len(REAL_DEFECT_CSR_B64) % 4))
    cert = ca.sign_csr_der(der, subject_policy="cn-only", now=NOW)
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.rfc4514_string() == "CN=50363154-3931-44f0-8022-121b6401627d"
    with pytest.raises(ValidationError, match="not a PKCS#10 CSR"):
        ca.sign_csr_der(b"\x30\x00")


def test_generate_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="common name"):
        LocalCA.generate(tmp_path, " ")
    with pytest.raises(ValidationError, match="at least 1"):
        LocalCA.generate(tmp_path, "x", validity_days=0)


def test_serials_are_random(ca: LocalCA) -> None:
    csr = _csr([x509.NameAttribute(NameOID.COMMON_NAME, "a")])
    assert len({ca.sign_csr(csr, now=NOW).serial_number for _ in range(3)}) == 3


def test_subject_policies(ca: LocalCA) -> None:
    full = _csr(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nordic Semiconductor"),
            x509.NameAttribute(NameOID.COMMON_NAME, "mydevice"),
        ]
    )
    assert ca.sign_csr(full, subject_policy="cn-only", now=NOW).subject.rfc4514_string() == "CN=mydevice"
    assert ca.sign_csr(full, subject_policy="keep", now=NOW).subject == full.subject
    no_cn = _csr([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])
    with pytest.raises(ValidationError, match="exactly one CN"):
        ca.sign_csr(no_cn, subject_policy="cn-only", now=NOW)
    with pytest.raises(ValidationError, match="unknown subject policy"):
        ca.sign_csr(full, subject_policy="bogus", now=NOW)  # type: ignore[arg-type]


def test_rsa_csr_gets_key_encipherment(ca: LocalCA) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = ca.sign_csr(_csr([x509.NameAttribute(NameOID.COMMON_NAME, "r")], rsa_key), now=NOW)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.key_agreement


def test_csr_with_a_bad_signature_is_refused(ca: LocalCA) -> None:
    der = bytearray(_csr([x509.NameAttribute(NameOID.COMMON_NAME, "t")]).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    with pytest.raises(ValidationError, match="signature does not verify"):
        ca.sign_csr(x509.load_der_x509_csr(bytes(der)), now=NOW)


def test_validity_is_clamped_to_the_ca_and_expired_ca_refuses(tmp_path: Path) -> None:
    short = LocalCA.generate(tmp_path, "short-lived", validity_days=10)
    csr = _csr([x509.NameAttribute(NameOID.COMMON_NAME, "c")])
    cert = short.sign_csr(csr)
    assert cert.not_valid_after_utc == short.certificate.not_valid_after_utc
    with pytest.raises(ValidationError, match="expired"):
        short.sign_csr(csr, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"validity_days": 0}, "at least 1"), ({"not_before_skew_minutes": -1}, "between 0 and 1440")],
)
def test_bad_signing_arguments(ca: LocalCA, kwargs: dict[str, int], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ca.sign_csr(_csr([x509.NameAttribute(NameOID.COMMON_NAME, "c")]), **kwargs)  # type: ignore[arg-type]


def _write_encrypted_key(ca_dir: Path, target: Path, password: bytes) -> Path:
    key = serialization.load_pem_private_key((ca_dir / CA_KEY_FILENAME).read_bytes(), password=None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return target


def test_load_with_password_from_the_environment(ca_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _write_encrypted_key(ca_dir, tmp_path / "enc.pem", PASSWORD.encode())
    cert_file = ca_dir / CA_CERT_FILENAME
    monkeypatch.setenv("CW_CA_PASSWORD", PASSWORD)
    assert LocalCA.load(cert_file, key_file, "CW_CA_PASSWORD").subject == "CN=credwarden test CA"
    with pytest.raises(ValidationError, match="encrypted") as no_password:
        LocalCA.load(cert_file, key_file)
    monkeypatch.setenv("CW_CA_PASSWORD", "wrong-password-value")
    with pytest.raises(ValidationError, match="wrong password") as wrong:
        LocalCA.load(cert_file, key_file, "CW_CA_PASSWORD")
    monkeypatch.delenv("CW_CA_PASSWORD")
    with pytest.raises(ValidationError, match=r"CW_CA_PASSWORD .* is not set"):
        LocalCA.load(cert_file, key_file, "CW_CA_PASSWORD")
    for error in (no_password.value, wrong.value):
        assert PASSWORD not in str(error) and "wrong-password-value" not in str(error)
        assert error.__cause__ is None and error.__suppress_context__


def test_load_unencrypted_key_with_a_password(ca_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_CA_PASSWORD", PASSWORD)
    with pytest.raises(ValidationError, match="not encrypted"):
        LocalCA.load(ca_dir / CA_CERT_FILENAME, ca_dir / CA_KEY_FILENAME, "CW_CA_PASSWORD")


def test_load_der_key(ca_dir: Path, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key((ca_dir / CA_KEY_FILENAME).read_bytes(), password=None)
    der_file = tmp_path / "ca-key.der"
    der_file.write_bytes(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    assert LocalCA.load(ca_dir / CA_CERT_FILENAME, der_file).subject == "CN=credwarden test CA"


def test_load_refusals(ca_dir: Path, tmp_path: Path) -> None:
    cert_file, key_file = ca_dir / CA_CERT_FILENAME, ca_dir / CA_KEY_FILENAME
    with pytest.raises(ValidationError, match="cannot read the CA certificate"):
        LocalCA.load(tmp_path / "missing.pem", key_file)
    with pytest.raises(ValidationError, match="cannot read the CA key"):
        LocalCA.load(cert_file, tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate")
    with pytest.raises(ValidationError, match=r"not a PEM X\.509 certificate"):
        LocalCA.load(garbage, key_file)
    with pytest.raises(ValidationError, match="cannot load the CA key"):
        LocalCA.load(cert_file, garbage)
    other = LocalCA.generate(tmp_path / "other", "other CA")
    with pytest.raises(ValidationError, match="does not belong"):
        LocalCA.load(tmp_path / "other" / CA_CERT_FILENAME, key_file)
    # A leaf certificate is not a CA.
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = other.sign_csr(_csr([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")], leaf_key))
    leaf_file, leaf_key_file = tmp_path / "leaf.pem", tmp_path / "leaf-key.pem"
    leaf_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    leaf_key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValidationError, match="not a CA"):
        LocalCA.load(leaf_file, leaf_key_file)
