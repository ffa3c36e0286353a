"""`Device`: the typed operations on one modem (info, list, read, write, delete, keygen, attest, expiry).

Write, delete and keygen run inside `offline()` themselves; read-only operations never change CFUN.
Opened with `Device.open()` (or `credwarden.connect()`), closed with `close()` or a `with` block.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from types import TracebackType

from credwarden.at import cmng
from credwarden.at.info import (
    parse_certexpiry,
    parse_firmware_version,
    parse_imei,
    parse_quoted_token,
    parse_uuid,
)
from credwarden.at.response import AtResponse
from credwarden.at.timeouts import TimeoutPolicy
from credwarden.errors import (
    CredwardenError,
    ModemError,
    NotFound,
    ProtocolError,
    UsageError,
    ValidationError,
)
from credwarden.log import looks_secret, redaction_marker
from credwarden.models import (
    AttestationToken,
    CertExpiry,
    DeleteOutcome,
    DeviceInfo,
    KeygenResult,
    ReadResult,
    SessionStats,
    StoredEntry,
)
from credwarden.modem.dialect import Dialect, dialect_named, probe_dialect
from credwarden.modem.guards import Guards
from credwarden.modem.session import AtSession, Observer
from credwarden.transport.base import Transport, open_transport
from credwarden.types import DIALECTS, READABLE_TYPES, SECRET_TYPES, CredType, is_user_tag, parse_type, type_name

log = logging.getLogger("credwarden.device")

#: Default seconds the dialect probe waits for an answer to `AT`.
DETECT_TIMEOUT = 2.0
#: %KEYGEN key type for a client private key + CSR (modem-behaviour.md#keygen).
KEYGEN_CLIENT_KEY = 2
#: An explicit functional-mode change through `at()`: it becomes the mode the session leaves behind.
_CFUN_SET = re.compile(r"^AT\+CFUN=(\d+)\s*$", re.IGNORECASE)
#: An explicit numeric-error setting through `at()`: the session keeps track of it.
_CMEE_SET = re.compile(r"^AT\+CMEE=(\d+)\s*$", re.IGNORECASE)
#: The first modem firmware with `%KEYGEN` (and `%ATTESTTOKEN`).
KEYGEN_SINCE = (1, 3, 0)


def _type_code(value: int | str | CredType) -> int:
    try:
        return int(parse_type(value))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class Device:
    """One modem reached through one transport and dialect."""

    def __init__(self, session: AtSession, *, port: str | None = None) -> None:
        self._session = session
        self._guards = Guards(session)
        self.port = port if port is not None else session.transport.name
        self._closed = False
        self._firmware: str | None = None  #: `AT+CGMR` once read

    # -- lifecycle -----------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        port: str,
        *,
        mode: str = "auto",
        baud: int = 115200,
        flow_control: bool = False,
        timeout: float | None = None,
        unescape_lf: bool = True,
        timeouts: TimeoutPolicy | None = None,
    ) -> Device:
        """Open `port`, detect (or take) the dialect and learn the numeric-error setting (one `AT+CMEE?`).

        `timeout` replaces the base timeout only; `timeouts` is a whole policy (`TimeoutPolicy().scaled(0.1)`,
        `TimeoutPolicy.uniform(2)`) covering slow commands and line recovery too. Both given: `timeout` is
        applied to `timeouts`.
        """
        if mode != "auto" and mode not in DIALECTS:
            raise UsageError(f"unknown mode {mode!r}; use auto or one of {', '.join(DIALECTS)}")
        transport = open_transport(port, baud=baud, flow_control=flow_control)
        try:
            return cls.over(
                transport, mode=mode, timeout=timeout, unescape_lf=unescape_lf, port=port, timeouts=timeouts
            )
        except BaseException:
            transport.close()
            raise

    @classmethod
    def over(
        cls,
        transport: Transport,
        *,
        mode: str = "auto",
        timeout: float | None = None,
        unescape_lf: bool = True,
        port: str | None = None,
        timeouts: TimeoutPolicy | None = None,
    ) -> Device:
        """A Device over an already open transport (the caller keeps ownership until `close()`).

        `timeout` / `timeouts` as in `open()`; dialect detection waits `timeout` (else at most the policy's
        base, capped at DETECT_TIMEOUT).
        """
        policy = (timeouts or TimeoutPolicy()).with_base(timeout)
        detect_within = timeout or (min(policy.base, DETECT_TIMEOUT) if timeouts is not None else DETECT_TIMEOUT)
        probed = probe_dialect(transport, detect_within, policy.answer_quiet) if mode == "auto" else None
        name = probed.dialect if probed is not None else mode
        dialect = dialect_named(name, unescape_lf=unescape_lf)
        session = AtSession(transport, dialect, timeouts=policy)
        device = cls(session, port=port)
        device._guards.establish(probed.cmee if probed is not None else None, first_contact=detect_within)
        return device

    def close(self) -> None:
        """Restore `+CMEE` (when the session changed it) and close the transport (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._guards.restore()
        finally:
            self._session.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        """ "at_client" | "shell" | "slm"."""
        return self._session.dialect.name

    @property
    def dialect_rules(self) -> Dialect:
        """The Dialect object (framing, `stored_form()` for digest prediction)."""
        return self._session.dialect

    @property
    def stats(self) -> SessionStats:
        return self._session.stats

    @property
    def session(self) -> AtSession:
        return self._session

    @property
    def original_cfun(self) -> int | None:
        """CFUN as found in this session (`AT+CFUN?` on first use, once; None when the firmware does not say)."""
        return self._guards.found_cfun()

    def add_observer(self, callback: Observer) -> None:
        """`callback(event, data)`: "command", "response", "bytes", "urc", "timeout", "reboot"."""
        self._session.add_observer(callback)

    def remove_observer(self, callback: Observer) -> None:
        self._session.remove_observer(callback)

    def stored_form(self, content: bytes) -> bytes:
        """What the modem will store for `content` written through this device's dialect."""
        return self._session.dialect.stored_form(content)

    def reestablish(self) -> None:
        """After DeviceRebooted: get back in step, re-apply the session guards and the CFUN found at start."""
        self._guards.reestablish()

    # -- raw -----------------------------------------------------------------------------------------------
    def at(self, command: str, timeout: float | None = None) -> AtResponse:
        """Send a raw command; info lines + final result; ModemError for an error result."""
        text = command.strip()
        if not text.upper().startswith("AT"):
            raise UsageError(f"not an AT command: {command!r}")
        answer = self._session.command(text, timeout=timeout)
        mode = _CFUN_SET.match(text)
        if mode is not None:
            self._guards.user_set_cfun(int(mode.group(1)))
        cmee = _CMEE_SET.match(text)
        if cmee is not None:
            self._session.cmee = int(cmee.group(1))
        if text.upper() == "AT+CGMR" and answer.lines:
            self._firmware = answer.lines[0].strip()
        return answer

    def firmware(self) -> str | None:
        """The modem firmware string (`AT+CGMR`, read once per session); None when not reported."""
        if self._firmware is None:
            answer = self._optional("AT+CGMR")
            self._firmware = answer.lines[0].strip() if answer is not None and answer.lines else None
        return self._firmware

    @contextlib.contextmanager
    def offline(self) -> Iterator[None]:
        """CFUN=4 for the block when online (nested: no-op); the original mode is restored on exit."""
        with self._guards.offline():
            yield

    # -- identity ------------------------------------------------------------------------------------------
    def _optional(self, command: str) -> AtResponse | None:
        """A query the firmware may not have: its answer, or None when refused (no error code needed)."""
        try:
            return self._session.command(command, explain=False)
        except ModemError:
            return None

    def info(self, *, attest: bool = True) -> DeviceInfo:
        """IMEI, model, firmware (parsed version), device UUID where offered, build UUID, CFUN, dialect.

        `attest=False`: no attestation token for the device UUID where `%DEVICEUUID` is missing (mfw 1.3.x; the
        token costs the modem ~150 ms), so the UUID is then None."""
        cfun = self._guards.read_cfun()  # first: the found mode is known before anything else can restart the modem
        imei_answer = self._optional("AT+CGSN")
        model_answer = self._optional("AT+CGMM")
        firmware = self.firmware()
        version = parse_firmware_version(firmware)
        build = self._optional("AT%XMODEMUUID")
        build_uuid = parse_uuid(" ".join(build.payload("%XMODEMUUID:"))) if build else None
        return DeviceInfo(
            imei=parse_imei(list(imei_answer.lines)) if imei_answer else None,
            model=model_answer.lines[0].strip() if model_answer and model_answer.lines else None,
            firmware=firmware,
            firmware_version=version,
            uuid=self._device_uuid(version, attest),
            modem_build_uuid=build_uuid,
            cfun=cfun,
            dialect=self.dialect,
            port=self.port,
        )

    def identity(self) -> DeviceInfo:
        """What the inventory files a device under, in as few commands as the firmware allows: IMEI, model,
        firmware and the device UUID where `%DEVICEUUID` exists (mfw 2.0+); no CFUN, build UUID or attestation."""
        imei_answer = self._optional("AT+CGSN")
        model_answer = self._optional("AT+CGMM")
        firmware = self.firmware()
        version = parse_firmware_version(firmware)
        uuid = self._device_uuid(version, attest=False) if version is not None and version >= (2, 0, 0) else None
        return DeviceInfo(
            imei=parse_imei(list(imei_answer.lines)) if imei_answer else None,
            model=model_answer.lines[0].strip() if model_answer and model_answer.lines else None,
            firmware=firmware,
            firmware_version=version,
            uuid=uuid,
            modem_build_uuid=None,
            cfun=None,
            dialect=self.dialect,
            port=self.port,
        )

    def _device_uuid(self, version: tuple[int, int, int] | None, attest: bool = True) -> str | None:
        answer = self._optional("AT%DEVICEUUID")
        if answer is not None:
            found = parse_uuid(" ".join(answer.lines))
            if found:
                return found
        if not attest or version is None or version < (1, 3, 0):
            return None  # no attestation token before mfw 1.3 (modem-behaviour.md#attesttoken)
        try:
            return self.attest().device_uuid
        except (CredwardenError, ValueError) as exc:
            log.info("device UUID unavailable: %s", exc)
            return None

    # -- credential store ----------------------------------------------------------------------------------
    def list(self, sec_tag: int | None = None, type: int | str | CredType | None = None) -> builtins.list[StoredEntry]:
        """Stored entries (`%CMNG=1`); filtered by tag and/or type. A type alone filters the full list."""
        code = _type_code(type) if type is not None else None
        command = cmng.list_command(sec_tag, code if sec_tag is not None else None)
        answer = self._session.command(command)
        entries, rejected = cmng.parse_list_response(list(answer.lines))
        for line in rejected:
            log.warning("ignored unparseable list line: %r", line[:120])
        if sec_tag is not None:
            entries = [e for e in entries if e.sec_tag == sec_tag]
        if code is not None:
            entries = [e for e in entries if e.type == code]
        return entries

    def read(self, sec_tag: int, type: int | str | CredType) -> ReadResult:
        """Content of a readable entry (types 0 and 4), byte-exact. NotFound when absent."""
        code = _type_code(type)
        if code not in READABLE_TYPES:
            raise UsageError(
                f"type {code} ({type_name(code)}) cannot be read back: the modem only returns root CA certificates "
                "(0) and PSK identities (4); compare its digest with `credwarden list` instead"
            )
        answer = self._session.command(cmng.read_command(sec_tag, code))
        if not answer.lines:
            raise NotFound(513, command=answer.command)  # SLM/old firmware answer a missing entry with bare OK
        entry, content = cmng.parse_read_response("\r\n".join(answer.lines))
        if (entry.sec_tag, entry.type) != (sec_tag, code):
            raise ProtocolError(f"asked for {sec_tag}/{code}, the modem answered with {entry.sec_tag}/{entry.type}")
        return ReadResult(entry=entry, content=content)

    def write(self, sec_tag: int, type: int | str | CredType, content: bytes, password: str | None = None) -> None:
        """Store `content` as-is (checked for size and quoting before anything is sent)."""
        code = _type_code(type)
        if code != CredType.CLIENT_KEY and looks_secret(content):
            raise ValidationError(
                f"the content is a private key but type {code} ({type_name(code)}) was given; private keys go to "
                "type 2 (client-key), which the modem never returns"
            )
        command = cmng.write_command(sec_tag, code, content, password)
        if code in SECRET_TYPES:
            log.info("writing %s to %d/%d", redaction_marker(content), sec_tag, code)
        with self.offline():
            self._session.command(command)

    def delete(self, sec_tag: int, type: int | str | CredType) -> None:
        """Delete one entry; NotFound (CME 513) when it does not exist."""
        code = _type_code(type)
        command = cmng.delete_command(sec_tag, code)
        with self.offline():
            self._session.command(command)

    def user_entries(self, tags: Iterable[int] | None = None) -> builtins.list[StoredEntry]:
        """Every user entry (tags 0..2147483647), or those on `tags` (listed one tag at a time, which also works
        when the full list does not fit the shell's buffer). Modem-owned entries are never included."""
        if tags is None:
            listed = self.list()
        else:
            wanted = sorted(set(tags))
            for tag in wanted:
                if not is_user_tag(tag):
                    raise UsageError(
                        f"sec_tag {tag} is not a user tag (0..2147483647): its entries belong to the modem"
                    )
            listed = [entry for tag in wanted for entry in self.list(tag)]
        return [e for e in listed if is_user_tag(e.sec_tag)]

    def delete_entries(self, entries: Iterable[StoredEntry]) -> builtins.list[DeleteOutcome]:
        """Delete the given user entries in one offline window; continues past refusals, reports each entry."""
        chosen = [e for e in entries if is_user_tag(e.sec_tag)]
        outcomes: builtins.list[DeleteOutcome] = []
        if not chosen:
            return outcomes
        with self.offline():
            for entry in chosen:
                try:
                    self._session.command(cmng.delete_command(entry.sec_tag, entry.type))
                except ModemError as exc:
                    outcomes.append(DeleteOutcome(entry.sec_tag, entry.type, False, str(exc), exc.code))
                else:
                    outcomes.append(DeleteOutcome(entry.sec_tag, entry.type, True))
        return outcomes

    def delete_all(self, tags: Iterable[int] | None = None) -> builtins.list[DeleteOutcome]:
        """Delete every user entry, or only those on `tags` (see `user_entries`)."""
        return self.delete_entries(self.user_entries(tags))

    # -- keys, tokens, expiry ------------------------------------------------------------------------------
    def keygen(self, sec_tag: int, attributes: str | None = None) -> KeygenResult:
        """Generate a private key in `sec_tag` on the modem and return its decoded CSR (`%KEYGEN`)."""
        if not is_user_tag(sec_tag):
            raise ValidationError(f"sec_tag {sec_tag} is outside the user range 0..2147483647")
        command = f"AT%KEYGEN={sec_tag},{KEYGEN_CLIENT_KEY},0"
        if attributes is not None:
            if '"' in attributes or not attributes.strip() or not attributes.isascii():
                raise ValidationError('CSR attributes must be non-empty ASCII without a double quote (")')
            command += f',"{attributes}"'
        from credwarden.creds.csr import parse_keygen_response

        with self.offline():
            try:
                answer = self._session.command(command)
            except ModemError as exc:
                raise self._keygen_refused(exc) from None
        return parse_keygen_response(sec_tag, parse_quoted_token(list(answer.lines), "%KEYGEN:"))

    def _keygen_refused(self, error: ModemError) -> ModemError:
        """A %KEYGEN refusal explained by the firmware version when the modem predates the command."""
        if error.code is not None:
            return error
        try:
            firmware = self.firmware()
        except CredwardenError:
            return error
        version = parse_firmware_version(firmware)
        if version is None or version >= KEYGEN_SINCE:
            return error
        return type(error)(
            None,
            command=error.command,
            meaning=f"this modem firmware ({firmware}) has no %KEYGEN command",
            hint="%KEYGEN exists from modem firmware 1.3.0 on: update the modem firmware, or generate the key off "
            "the device and write it as client-key (type 2)",
        )

    def attest(self) -> AttestationToken:
        """The decoded attestation token (`%ATTESTTOKEN`)."""
        from credwarden.creds.attest import decode_attestation

        answer = self._session.command("AT%ATTESTTOKEN")
        return decode_attestation(parse_quoted_token(list(answer.lines), "%ATTESTTOKEN:"))

    def expiry(self, sec_tag: int, type: int | str | CredType) -> CertExpiry:
        """Validity of a stored certificate (`%CERTEXPIRY`, types 0, 1, 10)."""
        code = _type_code(type)
        if code not in (0, 1, 10):
            raise UsageError(f"%CERTEXPIRY works on certificates (types 0, 1, 10), not on {type_name(code)}")
        answer = self._session.command(f"AT%CERTEXPIRY={sec_tag},{code}")
        serial, not_before, not_after = parse_certexpiry(list(answer.lines))
        return CertExpiry(sec_tag=sec_tag, type=code, serial=serial, not_before=not_before, not_after=not_after)
