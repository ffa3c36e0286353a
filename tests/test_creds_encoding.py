"""Canonical PEM encoding, DER conversion and digest prediction / equivalence (tier 1, pure)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from credwarden.creds.encoding import (
    EncodingError,
    canonical_content,
    canonical_pem,
    der_label,
    equivalent_digests,
    equivalent_forms,
    match_digest,
    parse_pem_blocks,
    predicted_sha256,
    same_credential,
    stored_form,
)
from credwarden.types import CredType

_KEY = ec.generate_private_key(ec.SECP256R1())
_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "encoding test")])
_CERT = (
    x509.CertificateBuilder()
    .subject_name(_NAME)
    .issuer_name(_NAME)
    .public_key(_KEY.public_key())
    .serial_number(7)
    .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
    .not_valid_after(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=1))
    .sign(_KEY, hashes.SHA256())
)
CERT_PEM = _CERT.public_bytes(serialization.Encoding.PEM)
CERT_DER = _CERT.public_bytes(serialization.Encoding.DER)


def test_canonical_pem_of_openssl_output_is_unchanged() -> None:
    assert canonical_pem(CERT_PEM) == CERT_PEM
    assert CERT_PEM.endswith(b"-----\n") and b"\r" not in CERT_PEM


@pytest.mark.parametrize(
    "variant",
    [
        CERT_PEM.replace(b"\n", b"\r\n"),  # CRLF with final CRLF (nrfcloud-utils)
        CERT_PEM.rstrip(b"\n"),  # LF without final newline (nrfcredstore)
        CERT_PEM.replace(b"\n", b"\r\n").rstrip(b"\r\n"),  # CRLF without final
        b"Bag Attributes\n  friendlyName: x\n" + CERT_PEM + b"\n\n",  # openssl pkcs12 noise around the block
        CERT_PEM.replace(b"\n", b"\r"),  # old Mac line endings
    ],
)
def test_common_encodings_have_the_same_canonical_form(variant: bytes) -> None:
    assert canonical_pem(variant) == CERT_PEM


def test_body_is_rewrapped_at_64_columns() -> None:
    body = base64.b64encode(CERT_DER)
    wrapped76 = (
        b"-----BEGIN CERTIFICATE-----\n"
        + b"\n".join(body[i : i + 76] for i in range(0, len(body), 76))
        + b"\n-----END CERTIFICATE-----\n"
    )
    assert canonical_pem(wrapped76) == CERT_PEM
    assert all(len(line) <= 64 for line in canonical_pem(wrapped76).split(b"\n"))


def test_der_certificate_is_converted_to_pem() -> None:
    assert canonical_pem(CERT_DER) == CERT_PEM


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        (serialization.PrivateFormat.PKCS8, "PRIVATE KEY"),
        (serialization.PrivateFormat.TraditionalOpenSSL, "EC PRIVATE KEY"),
    ],
)
def test_der_key_labels(fmt: serialization.PrivateFormat, label: str) -> None:
    der = _KEY.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
    assert der_label(der) == label
    pem = _KEY.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert canonical_pem(der) == pem


def test_der_rsa_and_encrypted_labels() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert der_label(der) == "RSA PRIVATE KEY"
    enc = _KEY.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert der_label(enc) == "ENCRYPTED PRIVATE KEY"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (CERT_PEM[: len(CERT_PEM) // 2], "without a matching 'END CERTIFICATE'"),
        (CERT_PEM.replace(b"\n", b"\\n"), "literal '\\n'"),
        (b"", "empty content"),
        (b"hello world", "neither PEM"),
        (b"\x30\x82\xff\xff garbage", "DER"),
        (b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n", "not valid base64"),
        (b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "empty body"),
    ],
)
def test_malformed_input_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message.replace("\\", "\\\\").replace("(", "\\(")):
        canonical_pem(data)


def test_predicted_digest_depends_on_the_dialect() -> None:
    lf = hashlib.sha256(CERT_PEM).hexdigest().upper()
    crlf = hashlib.sha256(CERT_PEM.replace(b"\n", b"\r\n")).hexdigest().upper()
    assert predicted_sha256(CERT_PEM, "at_client") == lf
    assert predicted_sha256(CERT_PEM, "slm") == lf
    assert predicted_sha256(CERT_PEM, "shell") == crlf
    assert stored_form(CERT_PEM, "shell").count(b"\r\n") == CERT_PEM.count(b"\n")


def test_equivalent_digests_cover_the_tools_encodings() -> None:
    digests = equivalent_digests(CERT_PEM)
    assert set(digests) == {"lf", "lf-no-final", "crlf", "crlf-no-final"}
    assert len(set(digests.values())) == 4
    nrfcredstore = CERT_PEM.rstrip()  # nrfcredstore writes file content rstrip()
    nrfcloud_utils = CERT_PEM.replace(b"\r", b"").replace(b"\n", b"\r\n")
    assert match_digest(CERT_PEM, hashlib.sha256(nrfcredstore).hexdigest()) == "lf-no-final"
    assert match_digest(CERT_PEM, hashlib.sha256(nrfcloud_utils).hexdigest().upper()) == "crlf"
    assert match_digest(CERT_PEM, hashlib.sha256(CERT_DER).hexdigest()) is None


def test_psk_equivalence_is_case_insensitive() -> None:
    canonical = canonical_content(CredType.PSK, b" 6E72663931 \n")
    assert canonical == b"6e72663931"
    assert match_digest(canonical, hashlib.sha256(b"6E72663931").hexdigest()) == "psk-upper"
    assert equivalent_forms(b"nrf91test") == {"raw": b"nrf91test"}


@given(
    body_width=st.integers(min_value=4, max_value=120),
    crlf=st.booleans(),
    final=st.booleans(),
    extra_blank=st.booleans(),
)
def test_round_trip_any_wrapping_and_line_endings(body_width: int, crlf: bool, final: bool, extra_blank: bool) -> None:
    body = base64.b64encode(CERT_DER)
    lines = [
        b"-----BEGIN CERTIFICATE-----",
        *(body[i : i + body_width] for i in range(0, len(body), body_width)),
        b"-----END CERTIFICATE-----",
    ]
    if extra_blank:
        lines.insert(1, b"")
    eol = b"\r\n" if crlf else b"\n"
    text = eol.join(lines) + (eol if final else b"")
    assert canonical_pem(text) == CERT_PEM
    assert same_credential(CredType.ROOT_CA, text, CERT_PEM)


@given(st.sampled_from(["lf", "lf-no-final", "crlf", "crlf-no-final"]))
def test_every_equivalent_form_is_recognised_and_round_trips(name: str) -> None:
    form = equivalent_forms(CERT_PEM)[name]
    assert match_digest(CERT_PEM, hashlib.sha256(form).hexdigest()) == name
    assert canonical_pem(form) == CERT_PEM
    assert same_credential(CredType.ROOT_CA, form, CERT_PEM)


def test_chain_keeps_block_order_and_different_content_is_different() -> None:
    chain = CERT_PEM + CERT_PEM.replace(b"\n", b"\r\n")
    blocks = parse_pem_blocks(chain)
    assert len(blocks) == 2 and canonical_pem(chain) == CERT_PEM * 2
    assert not same_credential(CredType.ROOT_CA, CERT_PEM, CERT_PEM * 2)
    assert not same_credential(CredType.ROOT_CA, b"garbage", CERT_PEM)
