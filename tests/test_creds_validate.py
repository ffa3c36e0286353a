"""Credential validation: what passes, in which canonical form (tier 1, pure; failures: tests/provision corpus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from credwarden.creds.validate import (
    CredentialPolicy,
    check_firmware,
    check_sec_tag,
    check_tag_groups,
    prepare_credential,
    write_command_length,
)
from credwarden.types import CredType

NOW = datetime.now(UTC)
CA_KEY = ec.generate_private_key(ec.SECP384R1())
KEY = ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: object, issuer: str, issuer_key: object, *, ca: bool | None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())  # type: ignore[attr-defined]
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]


ROOT = _cert("root", CA_KEY, "root", CA_KEY, ca=True)
INTERMEDIATE_KEY = ec.generate_private_key(ec.SECP256R1())
INTERMEDIATE = _cert("intermediate", INTERMEDIATE_KEY, "root", CA_KEY, ca=True)
CLIENT = _cert("device", KEY, "intermediate", INTERMEDIATE_KEY, ca=None)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    password: bytes | None = None,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def test_ca_bundle_with_intermediate_verifies_and_keeps_order() -> None:
    bundle = pem(ROOT) + pem(INTERMEDIATE).replace(b"\n", b"\r\n")
    prepared, problems = prepare_credential(42, CredType.ROOT_CA, bundle, source="ca.pem")
    assert not problems and prepared is not None
    assert prepared.content == pem(ROOT) + pem(INTERMEDIATE)
    assert len(prepared.certificates) == 2


def test_der_certificate_becomes_pem() -> None:
    prepared, problems = prepare_credential(
        42, CredType.ROOT_CA, ROOT.public_bytes(serialization.Encoding.DER), source="ca.der"
    )
    assert not problems and prepared is not None and prepared.content == pem(ROOT)


def test_client_cert_and_key_match_across_the_tag() -> None:
    cert, problems = prepare_credential(42, CredType.CLIENT_CERT, pem(CLIENT), source="client.pem")
    key, more = prepare_credential(
        42, CredType.CLIENT_KEY, key_pem(KEY, fmt=serialization.PrivateFormat.TraditionalOpenSSL), source="client.key"
    )
    assert not problems and not more and cert is not None and key is not None
    assert key.content.startswith(b"-----BEGIN EC PRIVATE KEY-----\n")  # the key's own form is kept
    assert key.secret and "redacted" in key.describe_content() and "BEGIN" not in repr(key)
    assert check_tag_groups([cert, key]) == []
    other, _ = prepare_credential(43, CredType.CLIENT_KEY, key_pem(KEY), source="k2")
    assert other is not None and check_tag_groups([cert, other]) == []  # different tag: no pairing


def test_encrypted_key_with_the_right_password() -> None:
    prepared, problems = prepare_credential(
        42, CredType.CLIENT_KEY, key_pem(KEY, b"s3cret"), source="k", password="s3cret"
    )
    assert not problems and prepared is not None and prepared.password == "s3cret"
    assert b"ENCRYPTED PRIVATE KEY" in prepared.content
    native, problems = prepare_credential(
        42,
        CredType.CLIENT_KEY,
        key_pem(KEY, b"s3cret"),
        source="k",
        password="s3cret",
        policy=CredentialPolicy(native_tls=True),
    )
    assert native is None and "cannot carry a key password" in str(problems[0])


def test_ec_parameters_block_is_dropped() -> None:
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    prepared, problems = prepare_credential(42, CredType.CLIENT_KEY, params + key_pem(KEY), source="k")
    assert not problems and prepared is not None and b"EC PARAMETERS" not in prepared.content


def test_rsa_2048_key_is_accepted() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    prepared, problems = prepare_credential(42, CredType.CLIENT_KEY, key_pem(rsa_key), source="k")
    assert not problems and prepared is not None


def test_allow_flags() -> None:
    expired = (
        x509.CertificateBuilder()
        .subject_name(_name("old"))
        .issuer_name(_name("old"))
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=90))
        .not_valid_after(NOW - timedelta(days=60))
        .sign(KEY, hashes.SHA256())
    )
    _, problems = prepare_credential(42, CredType.CLIENT_CERT, pem(expired), source="c")
    assert "expired on" in str(problems[0])
    ok, problems = prepare_credential(
        42, CredType.CLIENT_CERT, pem(expired), source="c", policy=CredentialPolicy(allow_expired=True)
    )
    assert ok is not None and not problems


@pytest.mark.parametrize(
    ("tag", "policy", "fragment"),
    [
        (16842753, CredentialPolicy(), "allow_nrf_cloud_tag"),
        (2147483648, CredentialPolicy(), "allow_tls_decrypt_tag"),
        (4294967294, CredentialPolicy(allow_tls_decrypt_tag=True), "reserved for the modem"),
    ],
)
def test_sec_tag_rules(tag: int, policy: CredentialPolicy, fragment: str) -> None:
    problems = check_sec_tag(tag, CredType.ROOT_CA, policy, "x")
    assert problems and fragment in str(problems[0])


def test_opt_ins_and_firmware_checks() -> None:
    assert check_sec_tag(16842753, CredType.ROOT_CA, CredentialPolicy(allow_nrf_cloud_tag=True), "x") == []
    assert check_sec_tag(2147483667, CredType.ROOT_CA, CredentialPolicy(allow_tls_decrypt_tag=True), "x") == []
    assert "from modem firmware 2.0.0" in str(check_firmware(2147483650, (1, 3, 5), "x")[0])
    assert check_firmware(2147483650, (2, 0, 2), "x") == []
    assert check_firmware(42, (1, 3, 5), "x", cred_type=CredType.CLIENT_KEY, native_tls=True) == []
    assert check_firmware(42, (2, 0, 2), "x", cred_type=CredType.CLIENT_KEY, native_tls=True)


def test_command_length_counts_the_password_and_prefix() -> None:
    assert write_command_length(42, 2, b"abcd", None, False) == len('AT%CMNG=0,42,2,"abcd"')
    assert write_command_length(42, 2, b"abcd", "pw", True) == len('AT#XCMNG=0,42,2,"abcd","pw"')


def test_the_whole_command_must_fit_4096_bytes() -> None:
    psk_identity = b"x" * (4096 - len('AT%CMNG=0,42,4,""') + 1)
    prepared, problems = prepare_credential(42, CredType.PSK_IDENTITY, psk_identity, source="id")
    assert prepared is None and "limited to 4096 bytes" in str(problems[0])
    prepared, problems = prepare_credential(42, CredType.PSK_IDENTITY, psk_identity[:-1], source="id")
    assert prepared is not None and not problems
