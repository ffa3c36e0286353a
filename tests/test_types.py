"""Credential type names and codes, CME table and exception mapping."""

import pytest

from credwarden.cme import CME_TABLE, cme_info
from credwarden.errors import ModemOnline, NotFound, PowerOffWarning, modem_error
from credwarden.types import CredType, is_placeholder_digest, parse_type, placeholder_digest, type_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", CredType.ROOT_CA),
        ("root-ca", CredType.ROOT_CA),
        ("ROOT_CA", CredType.ROOT_CA),
        ("ca", CredType.ROOT_CA),
        ("client-cert", CredType.CLIENT_CERT),
        ("2", CredType.CLIENT_KEY),
        ("psk", CredType.PSK),
        ("psk-identity", CredType.PSK_IDENTITY),
        (4, CredType.PSK_IDENTITY),
    ],
)
def test_parse_type_accepts_codes_and_names(text: str | int, expected: CredType) -> None:
    assert parse_type(text) is expected


@pytest.mark.parametrize("bad", ["root", "12", "-1", ""])
def test_parse_type_rejects_unknown_with_choices(bad: str) -> None:
    with pytest.raises(ValueError, match=r"unknown credential type|is not a valid CredType"):
        parse_type(bad)


def test_unknown_type_code_has_a_name() -> None:
    assert type_name(12) == "type-12"
    assert type_name(10) == "nordic-id-root-ca"


def test_placeholder_digest_is_type_byte_repeated() -> None:
    assert placeholder_digest(1) == "01" * 32
    assert is_placeholder_digest("0a" * 32, 10)
    assert not is_placeholder_digest("0A" * 32, 11)


def test_every_documented_cme_code_has_meaning_and_hint() -> None:
    for code in (0, 23, 50, 60, 513, 514, 515, 518, 519, 527, 528):
        info = cme_info(code)
        assert info.meaning and info.hint
        assert code in CME_TABLE
    assert "not documented" in cme_info(999).meaning


def test_modem_error_picks_specific_class_and_explains() -> None:
    err = modem_error(518, command="AT%CMNG=3,1,0")
    assert isinstance(err, ModemOnline)
    assert "modem is online" in str(err)
    assert isinstance(modem_error(513), NotFound)
    assert isinstance(modem_error(528), PowerOffWarning)
    assert type(modem_error(None)).__name__ == "ModemError"
