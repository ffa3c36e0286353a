"""The credwarden exception tree and the CLI exit codes.

One root (`CredwardenError`); device answers become `ModemError` subclasses carrying the CME code, its
meaning and what to do. Messages never contain credential content (private keys, PSKs).
"""

from __future__ import annotations

from enum import IntEnum

from credwarden.cme import Cme, cme_info


class ExitCode(IntEnum):
    """Process exit codes of the `credwarden` CLI (documented in the README)."""

    OK = 0
    FAILURE = 1  #: generic failure, or some devices failed in a batch
    USAGE = 2  #: bad command line (also typer/click's own usage errors)
    TRANSPORT = 3  #: the port could not be opened or the device went away
    MODEM_REFUSED = 4  #: the modem answered ERROR / +CME ERROR
    VALIDATION = 5  #: input (manifest, file, value) rejected before anything was sent
    VERIFICATION = 6  #: the device state differs from what was written / expected
    TIMEOUT = 7  #: the device did not answer in time
    NONE_REACHED = 8  #: batch: no device could be reached
    CHANGES_PENDING = 9  #: `plan` / `apply --dry-run`: the device differs from the manifest (nothing was changed)
    INTERRUPTED = 130  #: Ctrl-C (SIGINT); devices were left in the CFUN they were found in


class CredwardenError(Exception):
    """Root of every error credwarden raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class UsageError(CredwardenError):
    """The caller asked for something that cannot be done (bad argument combination, unreadable type...)."""

    exit_code = ExitCode.USAGE


class TransportError(CredwardenError):
    """The byte channel could not be opened, or failed while in use."""

    exit_code = ExitCode.TRANSPORT


class ProtocolError(CredwardenError):
    """The device answered something that does not fit the AT protocol."""

    exit_code = ExitCode.MODEM_REFUSED


class DeviceRebooted(ProtocolError):
    """The device restarted during the session (SLM `Ready` banner, or silence then a fresh prompt)."""


class AnswerTooLarge(ProtocolError):
    """The NCS shell could not pass an answer larger than its response buffer (`-7` / E2BIG)."""


class WrongMode(UsageError):
    """The device answers like another firmware front-end than the `--mode` given; `suggested` is the right one."""

    def __init__(self, message: str, *, suggested: str) -> None:
        super().__init__(message)
        self.suggested = suggested


class DeviceTimeout(CredwardenError, TimeoutError):
    """The device did not give a final result in time."""

    exit_code = ExitCode.TIMEOUT

    def __init__(self, message: str, *, command: str | None = None, timeout: float | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.timeout = timeout


class ModemError(CredwardenError):
    """The modem answered `ERROR`, `+CME ERROR: n` or `+CMS ERROR: n`.

    `code` is None for a bare `ERROR`. `command` is the redacted command that failed.
    """

    exit_code = ExitCode.MODEM_REFUSED
    cme: int | None = None

    def __init__(
        self,
        code: int | None,
        *,
        command: str | None = None,
        cms: bool = False,
        meaning: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.command = command
        self.cms = cms
        if meaning is not None or hint is not None:  # the caller knows more (firmware, dialect, CMEE state)
            self.meaning = meaning or ("the modem answered ERROR without a code" if code is None else f"error {code}")
            self.hint = hint or "check the AT command reference of this firmware"
        elif code is None:
            self.meaning = "the modem answered ERROR without a code"
            self.hint = "enable numeric errors with AT+CMEE=1 to learn the reason"
        elif cms:
            self.meaning = f"message service error {code}"
            self.hint = "this command is not a credential command; check the AT command reference"
        else:
            info = cme_info(code)
            self.meaning = info.meaning
            self.hint = info.hint
        label = "ERROR" if code is None else (f"+CMS ERROR: {code}" if cms else f"+CME ERROR: {code}")
        where = f" for {command}" if command else ""
        super().__init__(f"{label}{where}: {self.meaning}. What to do: {self.hint}")


class NotFound(ModemError):
    """CME 513: no credential with this sec_tag and type."""

    cme = Cme.NOT_FOUND


class NoAccess(ModemError):
    """CME 514: the operation is not allowed on this entry."""

    cme = Cme.NO_ACCESS


class MemoryFull(ModemError):
    """CME 515: the credential store is full."""

    cme = Cme.MEMORY_FULL


class ModemOnline(ModemError):
    """CME 518: not allowed while the modem is active (CFUN 1/2/21)."""

    cme = Cme.ACTIVE_STATE


class AlreadyExists(ModemError):
    """CME 519: the entry exists and cannot be overwritten."""

    cme = Cme.ALREADY_EXISTS


class InvalidContent(ModemError):
    """CME 527: the modem rejected the certificate content."""

    cme = Cme.INVALID_CONTENT


class PowerOffWarning(ModemError):
    """CME 528: a latched power-off warning blocks NVM updates."""

    cme = Cme.POWER_OFF_WARNING


_BY_CODE: dict[int, type[ModemError]] = {
    cls.cme: cls
    for cls in (NotFound, NoAccess, MemoryFull, ModemOnline, AlreadyExists, InvalidContent, PowerOffWarning)
    if cls.cme is not None
}


def modem_error(
    code: int | None,
    *,
    command: str | None = None,
    cms: bool = False,
    meaning: str | None = None,
    hint: str | None = None,
) -> ModemError:
    """Build the most specific `ModemError` for a final result code (`meaning` / `hint` replace the table's)."""
    cls = ModemError if (code is None or cms) else _BY_CODE.get(code, ModemError)
    return cls(code, command=command, cms=cms, meaning=meaning, hint=hint)


class ValidationError(CredwardenError):
    """Input rejected before anything was sent to a device. Names the file (or field) and the reason."""

    exit_code = ExitCode.VALIDATION

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class VerificationError(CredwardenError):
    """The device's state after an operation differs from what was intended."""

    exit_code = ExitCode.VERIFICATION
