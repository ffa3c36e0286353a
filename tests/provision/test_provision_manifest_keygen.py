"""`[[keygen]]` tables are part of the manifest model (validation, schema, `manifest check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from credwarden.provision.manifest import ManifestError, load_manifest, manifest_json_schema, parse_manifest
from credwarden.provision.resolve import resolve_manifest

KEYGEN = '[[keygen]]\nsec_tag = 44\nca_cert = "ca.pem"\nca_key = "ca.key"\n'


def test_keygen_only_manifest_is_valid(tmp_path: Path) -> None:
    spec = parse_manifest(KEYGEN + 'subject = "CN={imei}"\nwrite_ca = true\n', name="m.toml")
    assert spec.keygen[0].sec_tag == 44 and spec.keygen[0].validity_days == 365 and spec.keygen[0].write_ca


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[credential]]\nsec_tag = 44\ntype = "client-cert"\nfile = "c.pem"\n',
            "keygen[0].sec_tag: sec_tag 44 also gets a client-cert from credential[0]",
        ),
        (KEYGEN, "keygen[1].sec_tag: another [[keygen]] table names sec_tag 44"),
        ('[[credential]]\nsec_tag = 44\ntype = "root-ca"\nfile = "c.pem"\n', None),
    ],
)
def test_keygen_overlaps_are_refused(extra: str, message: str | None) -> None:
    if message is None:
        parse_manifest(KEYGEN + extra, name="m.toml")  # a root-ca next to keygen is fine without write_ca
        with pytest.raises(ManifestError, match="also gets a root-ca"):
            parse_manifest(KEYGEN + "write_ca = true\n" + extra, name="m.toml")
        return
    with pytest.raises(ManifestError) as info:
        parse_manifest(KEYGEN + extra, name="m.toml")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('password = "x"', "keygen[0].password"),
        ("validity_days = 0", "keygen[0].validity_days"),
        ('subject = "CN=\\"x\\""', "keygen[0]"),
        ('ca_key_password_env = "my secret"', "keygen[0]"),
    ],
)
def test_keygen_field_errors_name_the_table_and_field(line: str, field: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(KEYGEN + line + "\n", name="m.toml")
    assert "nothing was written" in str(info.value)
    assert f"m.toml: {field}" in str(info.value)


def test_keygen_sec_tag_range() -> None:
    with pytest.raises(ManifestError, match=r"m.toml: keygen\[0\].sec_tag: Input should be less than or equal"):
        parse_manifest(KEYGEN.replace("44", "2147483648"), name="m.toml")


def test_manifest_check_reports_missing_ca_files_and_password(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(KEYGEN + 'ca_key_password_env = "CA_PW"\n')
    with pytest.raises(ManifestError) as info:
        resolve_manifest(load_manifest(tmp_path / "m.toml"), env={})
    text = str(info.value)
    assert "3 problems" in text and "keygen[0].ca_cert: ca_cert file not found" in text
    assert "keygen[0].ca_key_password_env: ca_key_password_env names $CA_PW" in text


def test_schema_covers_keygen() -> None:
    schema = manifest_json_schema()
    assert "keygen" in schema["properties"] and "KeygenTable" in schema["$defs"]
