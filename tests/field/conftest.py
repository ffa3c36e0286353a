"""Fixtures of the field tests: a campaign manifest with throwaway credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from .pki import cert_pem, ec_key, key_pem

MANIFEST = """
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


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    ca_key, client_key = ec_key(), ec_key()
    (tmp_path / "ca.pem").write_bytes(cert_pem("campaign root", ca_key, ca=True))
    (tmp_path / "client.pem").write_bytes(cert_pem("campaign client", client_key, issuer=("campaign root", ca_key)))
    (tmp_path / "client.key").write_bytes(key_pem(client_key))
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST)
    return path
