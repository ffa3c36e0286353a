"""Credential type codes and sec_tag ranges of the nRF91 modem (pure data, shared with the simulator).

modem-behaviour.md#credential-types (types) and modem-behaviour.md#sec_tags (sec_tag space).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, get_args

#: The firmware front-ends a modem is reached through: NCS AT host, NCS shell `at` command, Serial LTE Modem.
Dialect = Literal["at_client", "shell", "slm"]
DIALECTS: tuple[Dialect, ...] = get_args(Dialect)
#: What `--mode` accepts: a dialect, or `auto` (detected from the answer to the first command).
MODES: tuple[str, ...] = ("auto", *DIALECTS)


def as_dialect(name: str) -> Dialect:
    """`name` as a Dialect; ValueError for anything else."""
    if name not in DIALECTS:
        raise ValueError(f"unknown dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return name


#: Highest sec_tag a user may write (modem-behaviour.md#cmng). Values above are reserved for the modem.
MAX_USER_SEC_TAG = 2_147_483_647
#: TLS-decrypt tags (mfw 2.0.0+, test/development only) (modem-behaviour.md#sec_tags).
TLS_DECRYPT_FIRST = 2_147_483_648
TLS_DECRYPT_LAST = 2_147_483_667
#: nRF Cloud's default sec_tag (modem-behaviour.md#sec_tags); writing into it needs an explicit opt-in.
NRF_CLOUD_SEC_TAG = 16_842_753
#: Largest sec_tag the AT interface can express (uint32).
MAX_SEC_TAG = 4_294_967_295
#: Modem-owned entries observed in real lists (modem-behaviour.md#sec_tags): (sec_tag, type).
FACTORY_ENTRIES: tuple[tuple[int, int], ...] = ((4_294_967_292, 11), (4_294_967_293, 10), (4_294_967_294, 6))
#: Whole AT command limit in bytes, terminator excluded (modem-behaviour.md#at-host, #content-rules).
MAX_AT_COMMAND_BYTES = 4096


class CredType(IntEnum):
    """`%CMNG` credential type codes (modem-behaviour.md#credential-types)."""

    ROOT_CA = 0
    CLIENT_CERT = 1
    CLIENT_KEY = 2
    PSK = 3
    PSK_IDENTITY = 4
    PUBLIC_KEY = 5
    DEVICE_IDENTITY_KEY = 6
    RESERVED_7 = 7
    ENDORSEMENT_KEY = 8
    OWNERSHIP_KEY = 9
    NORDIC_ID_ROOT_CA = 10
    NORDIC_BASE_KEY = 11
    ASSET_ENCRYPTION_KEY = 13

    @property
    def cli_name(self) -> str:
        """The friendly name used on the command line and in JSON (`root-ca`, ...)."""
        return _NAMES[self]


_NAMES: dict[CredType, str] = {
    CredType.ROOT_CA: "root-ca",
    CredType.CLIENT_CERT: "client-cert",
    CredType.CLIENT_KEY: "client-key",
    CredType.PSK: "psk",
    CredType.PSK_IDENTITY: "psk-identity",
    CredType.PUBLIC_KEY: "public-key",
    CredType.DEVICE_IDENTITY_KEY: "identity-key",
    CredType.RESERVED_7: "reserved-7",
    CredType.ENDORSEMENT_KEY: "endorsement-key",
    CredType.OWNERSHIP_KEY: "ownership-key",
    CredType.NORDIC_ID_ROOT_CA: "nordic-id-root-ca",
    CredType.NORDIC_BASE_KEY: "nordic-base-key",
    CredType.ASSET_ENCRYPTION_KEY: "asset-encryption-key",
}

_ALIASES: dict[str, CredType] = {
    "ca": CredType.ROOT_CA,
    "ca-cert": CredType.ROOT_CA,
    "root-ca-cert": CredType.ROOT_CA,
    "cert": CredType.CLIENT_CERT,
    "certificate": CredType.CLIENT_CERT,
    "client-certificate": CredType.CLIENT_CERT,
    "key": CredType.CLIENT_KEY,
    "private-key": CredType.CLIENT_KEY,
    "client-private-key": CredType.CLIENT_KEY,
    "psk-id": CredType.PSK_IDENTITY,
    "identity": CredType.PSK_IDENTITY,
    "pubkey": CredType.PUBLIC_KEY,
}

#: Types that `%CMNG=2` can read back (modem-behaviour.md#credential-types: 1, 2, 3 are refused with 514).
READABLE_TYPES = frozenset({CredType.ROOT_CA, CredType.PSK_IDENTITY})
#: Types the user writes with `%CMNG=0` (0-4); others are modem-managed or UNKNOWN.
USER_WRITABLE_TYPES = frozenset(
    {CredType.ROOT_CA, CredType.CLIENT_CERT, CredType.CLIENT_KEY, CredType.PSK, CredType.PSK_IDENTITY}
)
#: Types whose content is secret: never logged, printed or stored.
SECRET_TYPES = frozenset({CredType.CLIENT_KEY, CredType.PSK})


def type_name(code: int) -> str:
    """Friendly name of a type code; unknown codes read `type-<n>` (never an exception)."""
    try:
        return CredType(code).cli_name
    except ValueError:
        return f"type-{code}"


def slot_json(sec_tag: int, code: int) -> dict[str, int | str]:
    """The keys that name a slot in every JSON document: `sec_tag`, `type` and `type_name`."""
    return {"sec_tag": sec_tag, "type": int(code), "type_name": type_name(code)}


def parse_type(value: str | int) -> CredType:
    """Accept a type as a code (`0`) or a name (`root-ca`, `ROOT_CA`, `ca`); raise ValueError otherwise."""
    if isinstance(value, int):
        return CredType(value)
    text = value.strip()
    if text.isdigit():
        return CredType(int(text))
    key = text.lower().replace("_", "-")
    for member, name in _NAMES.items():
        if key == name:
            return member
    if key in _ALIASES:
        return _ALIASES[key]
    choices = ", ".join(_NAMES[m] for m in CredType)
    raise ValueError(f"unknown credential type {value!r}; use a code or one of: {choices}")


def is_user_tag(sec_tag: int) -> bool:
    """True for the user range 0..2147483647."""
    return 0 <= sec_tag <= MAX_USER_SEC_TAG


def is_tls_decrypt_tag(sec_tag: int) -> bool:
    """True for the TLS-decrypt range 2147483648..2147483667 (mfw 2.0.0+)."""
    return TLS_DECRYPT_FIRST <= sec_tag <= TLS_DECRYPT_LAST


def placeholder_digest(code: int) -> str:
    """Old firmware's stand-in for a SHA-256: the type byte 32 times (modem-behaviour.md#placeholder-digests)."""
    return f"{code:02X}" * 32


def is_placeholder_digest(sha: str, code: int) -> bool:
    """True when `sha` is the old-firmware placeholder for `code` (case-insensitive)."""
    return sha.upper() == placeholder_digest(code)


def user_deletable(sec_tag: int, cred_type: int) -> bool:
    """True when a user may delete this entry: a user-writable type on a user or TLS-decrypt tag, not a
    modem-owned factory entry (the modem refuses the others with CME 514)."""
    if (sec_tag, cred_type) in FACTORY_ENTRIES or cred_type not in USER_WRITABLE_TYPES:
        return False
    return 0 <= sec_tag <= MAX_USER_SEC_TAG or is_tls_decrypt_tag(sec_tag)


#: An IMEI: 14 digits (TAC + serial) and a Luhn check digit.
IMEI_LENGTH = 15


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes `digits` (an IMEI body of 14 digits)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_imei(imei: str) -> bool:
    """15 digits with a correct Luhn check digit."""
    return len(imei) == IMEI_LENGTH and imei.isdigit() and imei.isascii() and luhn_check_digit(imei[:14]) == imei[14]
