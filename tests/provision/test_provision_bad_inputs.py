"""A corpus of bad manifests/credentials: each is refused with a precise message before anything is sent.

The same corpus runs against the simulator in test_provision_bad_inputs_sim.py (no write reaches it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from provision_pki import NOW, Pki, key_pem, make_cert, manifest_text, pem

from credwarden.errors import ValidationError
from credwarden.provision.manifest import ManifestError, load_manifest
from credwarden.provision.resolve import DeviceIdentity, resolve_manifest


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Pki, Path], str]  # writes files into the directory, returns the manifest text
    message: str  # expected substring of the error
    sim_message: str | None = None  # expected when a device is connected (placeholders then resolve)


def _files(
    pki: Pki,
    d: Path,
    *,
    ca: bytes | None = None,
    client: bytes | None = None,
    key: bytes | None = None,
    extra: str = "",
    sec_tag: int = 42,
) -> str:
    (d / "ca.pem").write_bytes(pki.ca_pem if ca is None else ca)
    (d / "client.pem").write_bytes(pki.client_pem if client is None else client)
    (d / "client.key").write_bytes(pki.key_pem if key is None else key)
    return manifest_text(extra=extra, sec_tag=sec_tag)


def _one(
    type_: str, d: Path, content: bytes | None = None, *, sec_tag: int = 7, extra: str = "", table_extra: str = ""
) -> str:
    if content is not None:
        (d / "cred.pem").write_bytes(content)
    return f'{extra}\n[[credential]]\nsec_tag = {sec_tag}\ntype = "{type_}"\nfile = "cred.pem"\n{table_extra}\n'


def _psk(value: str, type_: str = "psk", sec_tag: int = 7, extra: str = "") -> str:
    return f'{extra}\n[[credential]]\nsec_tag = {sec_tag}\ntype = "{type_}"\nvalue = {json.dumps(value)}\n'


def _corrupt_signature(pki: Pki) -> bytes:
    der = bytearray(pki.ca.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x55  # inside the signature BIT STRING
    return pem(__import__("cryptography.x509", fromlist=["x"]).load_der_x509_certificate(bytes(der)))


def _expired_client(pki: Pki) -> bytes:
    return pem(
        make_cert(
            "dev",
            pki.client_key,
            issuer="credwarden TEST ONLY root CA",
            issuer_key=pki.ca_key,
            not_before=NOW - timedelta(days=800),
            not_after=NOW - timedelta(days=400),
        )
    )


def _future(pki: Pki, ca: bool = False) -> bytes:
    key = pki.ca_key if ca else pki.client_key
    return pem(
        make_cert("future", key, ca=ca, not_before=NOW + timedelta(days=4000), not_after=NOW + timedelta(days=5000))
    )


def _big_chain(pki: Pki) -> bytes:
    return pki.ca_pem * 10


def _legacy_encrypted(pki: Pki) -> bytes:
    return pki.client_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"secret-pw"),
    )


def _cert_for(key: object) -> bytes:
    return pem(make_cert("odd key", key, ca=False))  # type: ignore[arg-type]


_P521 = ec.generate_private_key(ec.SECP521R1())
_ED = ed25519.Ed25519PrivateKey.generate()
_RSA1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)

CASES: list[Case] = [
    Case("truncated CA PEM", lambda p, d: _files(p, d, ca=p.ca_pem[:200]), "without a matching 'END CERTIFICATE'"),
    Case("truncated client PEM", lambda p, d: _files(p, d, client=p.client_pem[:-40]), "without a matching"),
    Case("truncated key PEM", lambda p, d: _files(p, d, key=p.key_pem[:60]), "without a matching 'END PRIVATE KEY'"),
    Case(
        "CA with corrupted signature",
        lambda p, d: _files(p, d, ca=_corrupt_signature(p)),
        "self-signature does not verify",
    ),
    Case("key in the CA slot", lambda p, d: _files(p, d, ca=p.key_pem), "holds a private key, not a certificate"),
    Case("CA in the key slot", lambda p, d: _files(p, d, key=p.ca_pem), "holds a certificate, not a private key"),
    Case(
        "key in the client-cert slot",
        lambda p, d: _files(p, d, client=p.key_pem),
        "holds a private key, not a certificate",
    ),
    Case("client cert in the CA slot", lambda p, d: _files(p, d, ca=p.client_pem), "is not a CA"),
    Case("self-signed CA in the client slot", lambda p, d: _files(p, d, client=p.ca_pem), "self-signed CA"),
    Case("expired client cert", lambda p, d: _files(p, d, client=_expired_client(p)), "expired on"),
    Case("not yet valid client cert", lambda p, d: _files(p, d, client=_future(p)), "is not valid before"),
    Case("not yet valid CA", lambda p, d: _files(p, d, ca=_future(p, ca=True)), "is not valid before"),
    Case(
        "key not matching the cert",
        lambda p, d: _files(p, d, key=key_pem(ec.generate_private_key(ec.SECP256R1()))),
        "does not match the private key",
    ),
    Case(
        "encrypted key without password",
        lambda p, d: _files(p, d, key=key_pem(p.client_key, b"pw")),
        "encrypted and no password was given",
    ),
    Case(
        "password_env not set",
        lambda p, d: _one(
            "client-key", d, key_pem(p.client_key, b"pw"), table_extra='password_env = "CW_TEST_UNSET_PW"'
        ),
        "environment variable $CW_TEST_UNSET_PW (password_env of this key) is not set",
    ),
    Case(
        "wrong password",
        lambda p, d: _one("client-key", d, key_pem(p.client_key, b"right"), table_extra='password_env = "CW_TEST_PW"'),
        "does not decrypt the private key",
    ),
    Case(
        "legacy encrypted PEM",
        lambda p, d: _one("client-key", d, _legacy_encrypted(p), table_extra='password_env = "CW_TEST_PW"'),
        "legacy OpenSSL-encrypted PEM",
    ),
    Case(
        "password on a plain key",
        lambda p, d: _one("client-key", d, p.key_pem, table_extra='password_env = "CW_TEST_PW"'),
        "the private key is not encrypted",
    ),
    Case(
        "password too long",
        lambda p, d: _one(
            "client-key", d, key_pem(p.client_key, b"x" * 40), table_extra='password_env = "CW_TEST_LONG_PW"'
        ),
        "at most 32",
    ),
    Case("P-521 key", lambda p, d: _one("client-key", d, key_pem(_P521)), "secp521r1 is not supported"),
    Case("RSA-1024 key", lambda p, d: _one("client-key", d, key_pem(_RSA1024)), "RSA-1024 is not supported"),
    Case("Ed25519 key", lambda p, d: _one("client-key", d, key_pem(_ED)), "keys are not supported by the modem"),
    Case("two keys in one file", lambda p, d: _one("client-key", d, p.key_pem * 2), "exactly one private key"),
    Case("quote in PSK identity", lambda p, d: _psk('dev"ice', "psk-identity"), "double quote"),
    Case("non-printable PSK identity", lambda p, d: _psk("dev\tice", "psk-identity"), "printable ASCII"),
    Case(
        "non-ASCII in PEM",
        lambda p, d: _files(p, d, ca=p.ca_pem.replace(b"-----\n", "-----\n\u00e9\n".encode(), 1)),
        "non-ASCII byte 0xC3",
    ),
    Case("oversized chain", lambda p, d: _files(p, d, ca=_big_chain(p)), "crashes on chains above 4096"),
    Case("non-hex PSK", lambda p, d: _psk("nrf91test"), "PSK must be a hex string"),
    Case("odd-length PSK", lambda p, d: _psk("abc"), "odd length"),
    Case("empty PSK", lambda p, d: _psk(""), "is empty"),
    Case("reserved tag", lambda p, d: _psk("abcd", sec_tag=4294967292), "reserved for the modem"),
    Case("tag above uint32", lambda p, d: _psk("abcd", sec_tag=4294967296), "outside 0..2147483647"),
    Case("negative tag", lambda p, d: _psk("abcd", sec_tag=-1), "outside 0..2147483647"),
    Case("TLS-decrypt tag without opt-in", lambda p, d: _psk("abcd", sec_tag=2147483650), "allow_tls_decrypt_tag"),
    Case("nRF Cloud tag without opt-in", lambda p, d: _files(p, d, sec_tag=16842753), "allow_nrf_cloud_tag = true"),
    Case("empty file", lambda p, d: _one("root-ca", d, b""), "is empty"),
    Case("missing file", lambda p, d: _one("root-ca", d, None), "file not found"),
    Case("file is a directory", lambda p, d: (d / "cred.pem").mkdir() or _one("root-ca", d), "is a directory"),
    Case("DER garbage", lambda p, d: _one("root-ca", d, b"\x30\x03\x02\x01"), "DER input"),
    Case("binary garbage", lambda p, d: _one("root-ca", d, b"\x00\x01\x02garbage"), "neither PEM"),
    Case("literal \\n PEM", lambda p, d: _files(p, d, ca=p.ca_pem.replace(b"\n", b"\\n")), "literal '\\n'"),
    Case(
        "CSR in the CA slot",
        lambda p, d: _one(
            "root-ca", d, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        ),
        "'CERTIFICATE REQUEST' block",
    ),
    Case(
        "garbage certificate body",
        lambda p, d: _one("root-ca", d, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "not a parseable X.509",
    ),
    Case(
        "unknown type",
        lambda p, d: '[[credential]]\nsec_tag = 1\ntype = "root"\nvalue = "x"\n',
        "credential[0].type: unknown credential type 'root'",
    ),
    Case(
        "file and value",
        lambda p, d: '[[credential]]\nsec_tag = 1\ntype = "psk"\nvalue = "ab"\nfile = "x"\n',
        "exactly one of 'file' or 'value'",
    ),
    Case(
        "neither file nor value",
        lambda p, d: '[[credential]]\nsec_tag = 1\ntype = "psk"\n',
        "exactly one of 'file' or 'value'",
    ),
    Case(
        "inline CA",
        lambda p, d: '[[credential]]\nsec_tag = 1\ntype = "root-ca"\nvalue = "x"\n',
        "'value' is only allowed for psk and psk-identity",
    ),
    Case(
        "password_env on a CA",
        lambda p, d: _one("root-ca", d, p.ca_pem, table_extra='password_env = "X"'),
        "'password_env' only applies to client-key",
    ),
    Case(
        "inline password",
        lambda p, d: _one("client-key", d, p.key_pem, table_extra='password = "secret"'),
        "credential[0].password: Extra inputs are not permitted",
    ),
    Case("option typo", lambda p, d: "allow_expird = true\n" + _psk("abcd"), "allow_expird: Extra inputs"),
    Case("bad unverifiable policy", lambda p, d: 'unverifiable = "maybe"\n' + _psk("abcd"), "unverifiable: Input"),
    Case(
        "sec_tag as a string",
        lambda p, d: '[[credential]]\nsec_tag = "42"\ntype = "psk"\nvalue = "ab"\n',
        "credential[0].sec_tag",
    ),
    Case("invalid TOML", lambda p, d: "[[credential]\nsec_tag = 1\n", "not valid TOML"),
    Case("empty manifest", lambda p, d: "", "lists no [[credential]]"),
    Case("duplicate entry", lambda p, d: _psk("abcd") + _psk("abce"), "is already given by"),
    Case("modem-managed type", lambda p, d: _one("identity-key", d, p.ca_pem), "is managed by the modem"),
    Case(
        "native TLS tag too large",
        lambda p, d: _psk("abcd", sec_tag=300000000, extra="native_tls = true"),
        "largest SLM native TLS tag",
    ),
    Case(
        "unknown placeholder",
        lambda p, d: _one("root-ca", d, p.ca_pem).replace("cred.pem", "{serial}.pem"),
        "unknown placeholder {serial}",
    ),
    Case(
        "imei placeholder without device",
        lambda p, d: _one("root-ca", d, p.ca_pem).replace("cred.pem", "{imei}.pem"),
        "needs the device IMEI",
        sim_message="file not found",
    ),
    Case(
        "nrfcloud JSON invalid",
        lambda p, d: (d / "nc.json").write_text("{oops") and '[[nrfcloud]]\nfile = "nc.json"\n',
        "not valid JSON",
    ),
    Case(
        "nrfcloud JSON without credentials",
        lambda p, d: (d / "nc.json").write_text('{"clientId": "x"}') and '[[nrfcloud]]\nfile = "nc.json"\n',
        "holds none of caCert, clientCert, privateKey",
    ),
    Case(
        "nrfcloud tag without opt-in",
        lambda p, d: (
            (d / "nc.json").write_text(json.dumps({"caCert": p.ca_pem.decode()})) and '[[nrfcloud]]\nfile = "nc.json"\n'
        ),
        "allow_nrf_cloud_tag",
    ),
]

ENV = {"CW_TEST_PW": "wrong", "CW_TEST_LONG_PW": "x" * 40}


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def refuse(pki: Pki, case: Case, directory: Path) -> ValidationError:
    (directory / "manifest.toml").write_text(case.build(pki, directory))
    with pytest.raises(ValidationError) as info:
        resolve_manifest(load_manifest(directory / "manifest.toml"), DeviceIdentity(), env=ENV)
    return info.value


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_its_reason(pki: Pki, case: Case, tmp_path: Path) -> None:
    error = refuse(pki, case, tmp_path)
    assert case.message in str(error)
    assert "manifest.toml" in str(error)  # points to the file
    key_body = pki.key_pem.split(b"\n")[1][:24].decode()
    assert key_body not in str(error)  # never key material in a message


def test_every_problem_is_reported_at_once(pki: Pki, tmp_path: Path) -> None:
    text = _files(pki, tmp_path, ca=pki.key_pem, client=_expired_client(pki)) + _psk("abc", sec_tag=4294967292)
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(ManifestError) as info:
        resolve_manifest(load_manifest(tmp_path / "manifest.toml"), env={})
    messages = [str(p) for p in info.value.problems]
    assert len(messages) >= 4, messages
    assert any("credential[0]" in m and "holds a private key" in m for m in messages)
    assert any("credential[1]" in m and "expired on" in m for m in messages)
    assert any("credential[3]" in m and "odd length" in m for m in messages)
    assert any("credential[3]" in m and "reserved for the modem" in m for m in messages)
    assert "nothing was written" in str(info.value)
