"""`%KEYGEN` CSR decoding and NULL-parameter repair (creds/csr.py), against real answers and the simulator."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credwarden.creds.csr import csr_to_pem, parse_keygen_response, repair_csr_der
from credwarden.errors import ProtocolError, VerificationError
from credwarden.sim.keygen import make_keygen_response

# Real %KEYGEN answers published in nRFCloud/utils tests (facts only, decoded independently here):
# tests/test_modem_credentials_parser.py (KEYGEN_CSR, sec_tag 17) and
# tests/test_device_credentials_installer.py (TEST_KEYGEN, `AT%KEYGEN=52,2,0`). Both carry the NULL defect.
REAL_KEYGEN_17 = (
    "MIIBCjCBrwIBADAvMS0wKwYDVQQDDCQ1MDM2MzE1NC0zOTMxLTQ0ZjAtODAyMi0xMjFiNjQwMTYyN2QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC"
    "AAQqD6pNfa29o_EXnw62bnQWr8-JqsNh_HZxS3k3bMD4KZ8-qxnvgeoiqQ5zAycEP_Wcmzqypvwyf3qWMrZ2VB5aoB4wHAYJKoZIhvcNAQkOMQ8w"
    "DTALBgNVHQ8EBAMCA-gwDAYIKoZIzj0EAwIFAANIADBFAiEAv7OLZ_dXbszfhhjcLMUT72wTmw-z6GlgWxVhyWgR27ACIAvY_lPu3yfYZY5AL6uY"
    "TkUFp4GQkbSOUC_lsHyCxOuG.0oRDoQEmoQRBIVhL2dn3hQlQUDYxVDkxRPCAIhIbZAFifUERWCBwKj1W8FsvclMdZQgl4gBB4unZMYw0toU6uQZu"
    "XHLoDFAbhyLuHetYFWbiyxNZsnzSWEDUiTl7wwFt0hEsCiEQsxj-hCtpBk8Za8UXfdAycpx2faCOPJIrkfmiSS8-Y6_2tTAoAMN1BiWiTOimY1wZ"
    "E3Ud"
)
REAL_PUBLIC_KEY_17 = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKg+qTX2tvaPxF58Otm50Fq/PiarD\n"
    "Yfx2cUt5N2zA+CmfPqsZ74HqIqkOcwMnBD/1nJs6sqb8Mn96ljK2dlQeWg==\n"
    "-----END PUBLIC KEY-----\n"
)
REAL_KEYGEN_52 = (
    "MIIBCzCBrwIBADAvMS0wKwYDVQQDDCQ1MDM2Mzk1My0zMjM0LTQ3MjMtODBiOS0xNTAzZDg4MjcxYmYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC"
    "AAQ37lDghqs2kF2iiH8lYRDDxNMiziQRPPdw9Meb1iHfTEZNdlB1xZzMV-oK6i52p1GHYQszjoDzUAZF2zU2MTGGoB4wHAYJKoZIhvcNAQkOMQ8w"
    "DTALBgNVHQ8EBAMCA-gwDAYIKoZIzj0EAwIFAANJADBGAiEAzaMPi5NcWFYZBJGBMk0tU-TBoNDVlQUzhHWJzXKRTWsCIQCWYpYqjccA281F5Geb"
    "8SwOP3tnjS_ZbAXUgVWhTVNuvg.0oRDoQEmoQRBIVhM2dn3hQlQUDY5UzI0RyOAuRUD2IJxv0IYNFggTaa7Z9K-8bQPz3YG5o_h32quNr0FHEtn"
    "X5VpEZ-8gflQY8D67v4xx32mF0L3-mbuuVhAfY3TgibaimIVPaN1C3Sz_oWj6JPf8sEOV2XNBDUNCV3sD3WdNOjgv32-rLXAx_vBIvpk1DTCb3Y9"
    "7zqFhhdKlw"
)
ALG_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")
ALG = bytes.fromhex("300a06082a8648ce3d040302")
DEVICE_UUID = uuid.UUID("50363154-3931-44f0-8022-121b6401627d")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


# --- real answers (modem-behaviour.md#keygen) ------------------------------------------------------------------------


def test_real_answer_sec_tag_17_decodes_to_the_spec_facts() -> None:
    result = parse_keygen_response(17, REAL_KEYGEN_17)
    assert result.subject == "CN=50363154-3931-44f0-8022-121b6401627d"
    assert result.device_uuid == "50363154-3931-44f0-8022-121b6401627d"  # default CN == UUID in the payload
    assert result.message_type == 9
    assert result.repaired_null_params is True
    assert result.csr_sha256_matches is True  # payload digest is over the CSR as received (with the NULL)
    assert result.public_key_pem == REAL_PUBLIC_KEY_17
    received = _unb64(REAL_KEYGEN_17.split(".")[0])
    expected = bytes.fromhex("30820108") + received[4:].replace(ALG_NULL, ALG)
    assert result.csr_der == expected
    csr = x509.load_pem_x509_csr(result.csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.public_bytes(serialization.Encoding.DER) == expected
    key_usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (key_usage.digital_signature, key_usage.content_commitment, key_usage.key_encipherment) == (True,) * 3
    assert key_usage.key_agreement and not key_usage.data_encipherment
    assert result.cose is not None and result.cose.protected == {1: -7} and result.cose.unprotected == {4: b"\x21"}
    assert result.to_json()["repaired_null_params"] is True


def test_real_answer_sec_tag_52() -> None:
    result = parse_keygen_response(52, REAL_KEYGEN_52)
    assert result.device_uuid == "50363953-3234-4723-80b9-1503d88271bf"
    assert result.subject == f"CN={result.device_uuid}"
    assert result.repaired_null_params and result.csr_sha256_matches


def test_real_answer_for_another_sec_tag_is_refused() -> None:
    with pytest.raises(ProtocolError, match="for sec_tag 17, expected 18"):
        parse_keygen_response(18, REAL_KEYGEN_17)


def test_csr_only_answer_and_quotes_are_accepted() -> None:
    result = parse_keygen_response(17, '"' + REAL_KEYGEN_17.split(".")[0] + '"')
    assert result.cose is None and result.cose_raw is None
    assert result.device_uuid is None and result.message_type is None and result.csr_sha256_matches is None
    assert result.repaired_null_params


# --- repair_csr_der -----------------------------------------------------------------------------------------


def _clean_csr(key: ec.EllipticCurvePrivateKey, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hand-made")]))
        .sign(key, algorithm or hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def _add_null_by_hand(der: bytes) -> bytes:
    """Insert 05 00 into the signatureAlgorithm SEQUENCE (short-form inner lengths, long-form 0x81/0x82 outer)."""
    header = 4 if der[1] == 0x82 else 3 if der[1] == 0x81 else 2
    info_len = der[header + 2] if der[header + 1] == 0x81 else der[header + 1]
    info_end = header + (3 if der[header + 1] == 0x81 else 2) + info_len
    alg_len = der[info_end + 1]
    alg = bytes([0x30, alg_len + 2]) + der[info_end + 2 : info_end + 2 + alg_len] + b"\x05\x00"
    body = der[header:info_end] + alg + der[info_end + 2 + alg_len :]
    length = len(body).to_bytes(2, "big")
    return (b"\x30\x82" + length if len(body) > 255 else b"\x30\x81" + length[1:]) + body


def test_correct_csr_is_left_byte_identical(keys: tuple[ec.EllipticCurvePrivateKey, ...]) -> None:
    der = _clean_csr(keys[0])
    assert repair_csr_der(der) == (der, False)


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_hand_made_null_defect_is_repaired(
    keys: tuple[ec.EllipticCurvePrivateKey, ...], algorithm: hashes.HashAlgorithm
) -> None:
    der = _clean_csr(keys[0], algorithm)
    broken = _add_null_by_hand(der)
    assert broken != der and len(broken) == len(der) + 2
    assert repair_csr_der(broken) == (der, True)
    assert x509.load_pem_x509_csr(csr_to_pem(broken).encode()).is_signature_valid


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (b"", "truncated"),
        (b"\x30\x05\x00", "truncated"),
        (b"\x04\x00", "not a single DER SEQUENCE"),
        (bytes.fromhex("3000") + b"\x00", "not a single DER SEQUENCE"),
        (bytes.fromhex("30023000"), "expected SEQUENCE"),
        (bytes.fromhex("3085ffffffffff"), "bad DER length"),
    ],
)
def test_repair_rejects_non_csr_input(der: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        repair_csr_der(der)


def test_csr_to_pem_rejects_garbage() -> None:
    with pytest.raises(ProtocolError):
        csr_to_pem(bytes.fromhex("3009300030000303000000"))


# --- round trips through the simulator encoder --------------------------------------------------------------


@pytest.mark.parametrize("defect", [False, True])
def test_round_trip_with_identity_key_verification(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey], defect: bool
) -> None:
    device_key, identity_key = keys
    text = make_keygen_response(
        device_key, sec_tag=42, device_uuid=DEVICE_UUID, identity_key=identity_key, null_param_defect=defect
    )
    result = parse_keygen_response(42, text, identity_public_key=identity_key.public_key())
    assert result.repaired_null_params is defect
    assert result.csr_sha256_matches is True
    assert result.device_uuid == str(DEVICE_UUID)
    assert ALG_NULL not in result.csr_der and ALG in result.csr_der
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError):
        parse_keygen_response(42, text, identity_public_key=other)


def test_round_trip_with_attributes_and_a_tls_decrypt_tag(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    device_key, identity_key = keys
    text = make_keygen_response(
        device_key,
        sec_tag=2_147_483_650,
        device_uuid=DEVICE_UUID,
        identity_key=identity_key,
        attributes="O=Nordic Semiconductor,L=Trondheim,C=no,CN=mydevice",
    )
    result = parse_keygen_response(2_147_483_650, text)  # payload carries it as a negative int32
    assert result.subject == "CN=mydevice,C=no,L=Trondheim,O=Nordic Semiconductor"


def test_digest_mismatch_is_reported(keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]) -> None:
    device_key, identity_key = keys
    first = make_keygen_response(device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key)
    second = make_keygen_response(device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key)
    spliced = first.split(".")[0] + "." + second.split(".")[1]
    assert parse_keygen_response(1, spliced).csr_sha256_matches is False


def test_public_key_message_is_not_a_csr_answer(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    device_key, identity_key = keys
    text = make_keygen_response(
        device_key, sec_tag=1, device_uuid=DEVICE_UUID, identity_key=identity_key, response_content=1
    )
    with pytest.raises(ProtocolError, match="public-key message"):
        parse_keygen_response(1, text)


# --- malformed answers --------------------------------------------------------------------------------------

_CSR_PART, _COSE_PART = REAL_KEYGEN_17.split(".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bad_signature() -> str:
    der = bytearray(_unb64(_CSR_PART))
    der[-1] ^= 0x01
    return _b64(bytes(der))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ('""', "empty answer"),
        ("a.b.c", "3 part"),
        (_CSR_PART + ".", "part"),
        (_CSR_PART[:-3], "truncated base64url"),
        (_CSR_PART[:41], "truncated base64url"),
        ("MII*" + _CSR_PART[4:], "unexpected characters"),
        (_CSR_PART[:-4], "not a valid PKCS#10|truncated DER"),
        (_bad_signature(), "self-signature does not verify"),
        (_CSR_PART + "." + _COSE_PART[:-8], "malformed CBOR"),
        (_CSR_PART + "." + _b64(b"\xd1\x80"), "tag 17 is not COSE_Sign1"),
        (_CSR_PART + "." + _b64(bytes.fromhex("d28440a0f640")), "no payload"),
        (_CSR_PART + "." + _b64(bytes.fromhex("d28440a0420102" + "40")), "malformed CBOR"),
        (_CSR_PART + "." + _b64(bytes.fromhex("d28440a041a040")), "array of 5"),
    ],
)
def test_malformed_answers_give_clear_protocol_errors(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_keygen_response(17, text)
