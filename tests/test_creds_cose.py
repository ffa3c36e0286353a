"""Client-side CBOR decoder and COSE_Sign1 decoding/verification (creds/cbor.py, creds/cose.py)."""

from __future__ import annotations

import base64
import contextlib
import math
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from credwarden.creds.cbor import CborTag, decode_prefix, dumps, loads
from credwarden.creds.cose import decode_cose_sign1, verify_cose_sign1
from credwarden.errors import ProtocolError, VerificationError
from credwarden.sim.cose import sign1

# COSE part of a real %KEYGEN answer (nRFCloud/utils tests/test_modem_credentials_parser.py, KEYGEN_CSR).
REAL_KEYGEN_COSE_B64 = (
    "0oRDoQEmoQRBIVhL2dn3hQlQUDYxVDkxRPCAIhIbZAFifUERWCBwKj1W8FsvclMdZQgl4gBB4unZMYw0toU6uQZuXHLoDFAbhyLuHetYFWbiyxNZ"
    "snzSWEDUiTl7wwFt0hEsCiEQsxj-hCtpBk8Za8UXfdAycpx2faCOPJIrkfmiSS8-Y6_2tTAoAMN1BiWiTOimY1wZE3Ud"
)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- CBOR decoder -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        ("00", 0),
        ("1bffffffffffffffff", 2**64 - 1),
        ("3bffffffffffffffff", -(2**64)),
        ("3903e7", -1000),
        ("4401020304", b"\x01\x02\x03\x04"),
        ("62c3bc", "\u00fc"),
        ("8301820203820405", [1, [2, 3], [4, 5]]),
        ("a201020304", {1: 2, 3: 4}),
        ("c11a514b67b0", CborTag(1, 1363896240)),
        ("f4", False),
        ("f5", True),
        ("f6", None),
        ("f93c00", 1.0),
        ("fa47c35000", 100000.0),
        ("fb3ff199999999999a", 1.1),
        ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"),
        ("7f657374726561646d696e67ff", "streaming"),
        ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]),
        ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
    ],
)
def test_decodes_rfc8949_vectors(encoded: str, value: Any) -> None:
    assert loads(bytes.fromhex(encoded)) == value


def test_decodes_half_float_infinity() -> None:
    assert math.isinf(loads(bytes.fromhex("f97c00")))


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("", "at byte 0: the input ends inside an item"),
        ("1901", "at byte 2: the input ends inside an item"),
        ("1c", "at byte 1: reserved additional information 28"),
        ("0000", "at byte 1: 1 unexpected bytes after the item"),
        ("ff", "at byte 1: unexpected break"),
        ("1f", "indefinite length is not allowed"),
        ("62c328", "at byte 3: text string is not valid UTF-8"),
        ("a201020103", "at byte 5: duplicate map key 1"),
        ("a18001", "map key is an array"),
        ("5b" + "ff" * 8, "at byte 9: the input ends inside an item"),
        ("9b0000000100000000", "at byte 9: the input ends inside an item"),
        ("bb0000000100000000", "at byte 9: the input ends inside an item"),
        ("5f6161ff", "another major type"),
        ("f7", "unsupported simple value 23"),
        ("f8ff", "unsupported simple value 255"),
        ("9f01", "at byte 2: the input ends inside an item"),
        ("d8", "at byte 1: the input ends inside an item"),
        ("c1f7", "unsupported simple value 23 .*tag 1"),
    ],
)
def test_malformed_cbor_gives_a_clear_protocol_error(encoded: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        loads(bytes.fromhex(encoded))


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ProtocolError, match="nesting deeper than 32"):
        loads(b"\x81" * 1000 + b"\x00")
    with pytest.raises(ProtocolError, match="nesting"):
        loads(b"\x9f" * 100_000, max_depth=10**9)
    assert loads(b"\x81" * 10 + b"\x00", max_depth=10) == [[[[[[[[[[0]]]]]]]]]]


def test_decode_prefix_returns_the_end_offset() -> None:
    data = bytes.fromhex("01820203ff")
    assert decode_prefix(data) == (1, 1)
    assert decode_prefix(data, 1) == ([2, 3], 4)


_keys = st.one_of(st.integers(-(2**64), 2**64 - 1), st.text(max_size=8))
_leaves = st.one_of(
    st.integers(-(2**64), 2**64 - 1), st.binary(max_size=40), st.text(max_size=20), st.booleans(), st.none()
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_keys, inner, max_size=5),
        st.builds(cbor2.CBORTag, st.integers(0, 2**64 - 1), inner),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_round_trip_keeps_every_tag_as_a_plain_tag(value: Any) -> None:
    encoded = cbor2.dumps(value)
    decoded = loads(encoded)
    assert decoded == value  # no tag (1 = date, 2 = bignum, 258 = set, ...) is converted to another type
    assert dumps(decoded) == encoded


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise_anything_but_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        loads(data)


# --- COSE_Sign1 ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_decodes_the_real_keygen_cose() -> None:
    cose = decode_cose_sign1(_unb64(REAL_KEYGEN_COSE_B64))
    assert cose.protected == {1: -7}
    assert cose.unprotected == {4: b"\x21"}
    assert cose.payload is not None and len(cose.payload) == 75
    assert cose.payload.startswith(bytes.fromhex("d9d9f78509"))
    assert len(cose.signature) == 64
    assert cose.to_json()["unprotected"] == {"4": "21"}


def test_verify_attached_and_detached(identity_key: ec.EllipticCurvePrivateKey) -> None:
    public = identity_key.public_key()
    attached = sign1(b"payload", identity_key)
    assert verify_cose_sign1(attached, public).payload == b"payload"
    detached = sign1(b"message", identity_key, detached=True)
    assert verify_cose_sign1(detached, public, detached_payload=b"message").payload is None
    with pytest.raises(VerificationError, match="does not verify"):
        verify_cose_sign1(detached, public, detached_payload=b"other")
    with pytest.raises(ProtocolError, match="detached"):
        verify_cose_sign1(detached, public)
    with pytest.raises(ProtocolError, match="must not be given"):
        verify_cose_sign1(attached, public, detached_payload=b"payload")


def test_wrong_key_and_tampered_signature_fail(identity_key: ec.EllipticCurvePrivateKey) -> None:
    message = bytearray(sign1(b"payload", identity_key))
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError):
        verify_cose_sign1(bytes(message), other)
    message[-1] ^= 0x01
    with pytest.raises(VerificationError):
        verify_cose_sign1(bytes(message), identity_key.public_key())
    with pytest.raises(ProtocolError, match="P-256"):
        verify_cose_sign1(sign1(b"p", identity_key), ec.generate_private_key(ec.SECP384R1()).public_key())


def _cose(item: Any) -> bytes:
    return cbor2.dumps(item)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_cose(cbor2.CBORTag(17, [b"", {}, b"", b""])), "tag 17 is not COSE_Sign1"),
        (_cose([b"\xa1\x01\x26", {}, b"", b"x" * 64]), "not tagged"),
        (_cose(cbor2.CBORTag(18, [b"", {}, b""])), "array of 4"),
        (_cose(cbor2.CBORTag(18, {})), "array of 4"),
        (_cose(cbor2.CBORTag(18, [{}, {}, b"", b""])), "protected header must be a byte string"),
        (_cose(cbor2.CBORTag(18, [b"\x80", {}, b"", b""])), "protected header must be a map"),
        (_cose(cbor2.CBORTag(18, [b"", [], b"", b""])), "unprotected header must be a map"),
        (_cose(cbor2.CBORTag(18, [b"", {}, "text", b""])), "payload must be a byte string or nil"),
        (_cose(cbor2.CBORTag(18, [b"", {}, b"", None])), "signature must be a byte string"),
        (b"\xd2\x84", "malformed CBOR"),
    ],
)
def test_malformed_cose_is_a_protocol_error(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_cose_sign1(data)


def test_untagged_cose_accepted_when_asked(identity_key: ec.EllipticCurvePrivateKey) -> None:
    tagged = sign1(b"p", identity_key)
    untagged = tagged[1:]  # drop the 0xd2 tag byte
    assert verify_cose_sign1(untagged, identity_key.public_key(), require_tag=False).payload == b"p"


def test_verify_rejects_other_algorithms_and_signature_sizes(identity_key: ec.EllipticCurvePrivateKey) -> None:
    public = identity_key.public_key()
    es512 = _cose(cbor2.CBORTag(18, [cbor2.dumps({1: -36}), {}, b"p", b"x" * 64]))
    with pytest.raises(ProtocolError, match="not ES256"):
        verify_cose_sign1(es512, public)
    short = _cose(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, b"p", b"x" * 63]))
    with pytest.raises(ProtocolError, match="64 bytes, got 63"):
        verify_cose_sign1(short, public)
