"""Modem `+CME ERROR` codes with their meaning and what to do (pure data, shared with the simulator).

modem-behaviour.md#cme-codes, #keygen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Cme(IntEnum):
    """`+CME ERROR: <n>` codes the credential commands return."""

    PHONE_FAILURE = 0
    MEMORY_FAILURE = 23
    INCORRECT_PARAMETERS = 50
    INVALID_INPUT_VALUE = 51
    SYSTEM_ERROR = 60
    NOT_FOUND = 513
    NO_ACCESS = 514
    MEMORY_FULL = 515
    ACTIVE_STATE = 518
    ALREADY_EXISTS = 519
    AUTHENTICATION_FAILED = 520
    KEYGEN_FAILED = 523
    INVALID_CONTENT = 527
    POWER_OFF_WARNING = 528
    OWNERSHIP_KEY_NOT_FOUND = 529


@dataclass(frozen=True)
class CmeInfo:
    """What a CME code means (modem documentation wording) and what the user should do."""

    code: int
    meaning: str
    hint: str
    ncs_errno: str | None = None


CME_TABLE: dict[int, CmeInfo] = {
    info.code: info
    for info in (
        CmeInfo(
            0,
            "phone failure: invalid command, parameter, or other unexpected error",
            "the firmware may not support this command; check the modem firmware version (`credwarden info`)",
            "-EIO",
        ),
        CmeInfo(
            23,
            "memory failure",
            "the response did not fit a buffer; for large credentials raise the AT buffer size "
            "of the application firmware",
            "-E2BIG",
        ),
        CmeInfo(50, "incorrect parameters", "check the sec_tag, type and quoting of the command", "-EINVAL"),
        CmeInfo(51, "invalid input value", "check the parameter values", None),
        CmeInfo(60, "system error", "retry once; if it persists, restart the modem", "-ENOEXEC"),
        CmeInfo(
            513,
            "not found: no credential with this sec_tag and type",
            "list what is stored with `credwarden list --tag N`; provision it with `credwarden apply`",
            "-ENOENT",
        ),
        CmeInfo(
            514,
            "no access: the modem does not allow this operation on this entry "
            "(types 1, 2 and 3 cannot be read back; modem-owned entries cannot be changed)",
            "verify by digest instead (`credwarden list`); do not touch modem-reserved sec_tags",
            "-EACCES",
        ),
        CmeInfo(
            515,
            "memory full: the modem credential store has no room for this entry",
            "delete unused credentials (`credwarden list`, `credwarden delete`) and retry",
            "-ENOMEM",
        ),
        CmeInfo(
            518,
            "modem is online: writing, deleting and key generation are not allowed in active state (CFUN 1, 2 or 21)",
            "let credwarden take the modem offline (it does so itself and restores the mode), "
            "or send AT+CFUN=4 before the operation",
            "-EPERM",
        ),
        CmeInfo(
            519,
            "already exists: the entry exists and cannot be overwritten",
            "delete the entry first (`credwarden delete TAG TYPE`), then write it again",
            "-EALREADY",
        ),
        CmeInfo(
            520,
            "authentication failed: the command needs %XSUDO authentication",
            "sign the command with the key installed by %XPMNG",
            None,
        ),
        CmeInfo(
            523,
            "key generation failed",
            "retry once with the modem offline; check that the sec_tag is free of a key the modem owns",
            None,
        ),
        CmeInfo(
            527,
            "invalid content: the modem rejected the certificate content (types 0 and 1 are validated on mfw 2.0.2+)",
            "check the PEM: real newlines (not the two characters \\n), LF line endings, one certificate per "
            "BEGIN/END block; run `credwarden plan` to validate before writing",
            "-EINVAL",
        ),
        CmeInfo(
            528,
            "power-off warning active: NVM updates are blocked after a low-voltage warning",
            "fix the supply voltage, then re-arm with AT%XPOFWARN=1,30 or restart the modem",
            "-ECANCELED",
        ),
        CmeInfo(529, "ownership key not found", "provision the ownership key before requesting a claim token", None),
    )
}


def cme_info(code: int) -> CmeInfo:
    """Meaning and hint for any CME code; unknown codes get a generic, honest description."""
    found = CME_TABLE.get(code)
    if found is not None:
        return found
    meaning = f"modem error {code} (not documented for credential commands)"
    return CmeInfo(code, meaning, "see the modem AT command reference")
